"""Reading CSV files from a stream of bytes: encodings, delimiters, line numbers and resume positions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactsync.adapters.s3_csv_connector import (
    SNIFF_BYTES,
    CsvFileProblem,
    CsvRow,
    detect_encoding,
    open_csv,
    read_rows,
    sniff_delimiter,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def _read(data: bytes, chunk_size: int = 7, sniff: int = SNIFF_BYTES) -> list[CsvRow]:
    _layout, rows = open_csv(data[:sniff], _chunks(data[sniff:], chunk_size))
    return list(rows)


def test_the_encoding_is_utf8_with_or_without_bom_else_windows_1252() -> None:
    assert detect_encoding(b"\xef\xbb\xbfemail\n") == ("utf-8", 3)
    assert detect_encoding("Prénom\n".encode()) == ("utf-8", 0)
    assert detect_encoding("Prénom\n".encode("cp1252")) == ("cp1252", 0)
    # a multi-byte character cut at the end of the sniffed bytes is still UTF-8
    assert detect_encoding("Prénom".encode()[:3]) == ("utf-8", 0)


def test_the_delimiter_is_the_one_the_header_uses_outside_quotes() -> None:
    assert sniff_delimiter("email,first,last\r\n") == ","
    assert sniff_delimiter("Courriel;Prénom;Nom\r\n") == ";"
    assert sniff_delimiter('"Nom, complet";Courriel\n') == ";"
    assert sniff_delimiter("email\n") == ","


def test_rows_split_across_chunks_keep_their_fields_and_line_numbers() -> None:
    # Given a file with a quoted field spanning two lines, a blank line and a trailing delimiter
    data = b'email,note\r\na@x.co,"two\r\nlines"\r\n\r\nb@x.co,plain,\r\nc@x.co,last'
    # When read in 3-byte chunks
    rows = _read(data, chunk_size=3, sniff=5)
    # Then each row is where it starts, with its fields, and the last row ends the file
    assert [(row.line, row.end_line, row.fields) for row in rows] == [
        (2, 3, {"email": "a@x.co", "note": "two\r\nlines"}),
        (5, 5, {"email": "b@x.co", "note": "plain"}),
        (6, 6, {"email": "c@x.co", "note": "last"}),
    ]
    assert rows[-1].end_offset == len(data)


def test_invalid_utf8_after_the_sniffed_bytes_is_a_problem_of_that_row_only() -> None:
    # Given a UTF-8 file whose fourth line holds a Latin-1 byte, beyond the bytes the encoding was decided on
    data = "email,prénom\na@x.co,Zoë\nb@x.co,Bob\n".encode() + b"c@x.co,C\xe9line\nd@x.co,D\n"
    rows = _read(data, sniff=20)
    # Then that row is a problem and the others are read
    assert [(row.line, row.problem) for row in rows if row.problem] == [(4, "bytes that are not valid UTF-8")]
    assert [row.fields["email"] for row in rows if row.fields] == ["a@x.co", "b@x.co", "d@x.co"]


def test_a_file_without_a_header_is_a_problem() -> None:
    with pytest.raises(CsvFileProblem):
        open_csv(b"\r\n\r\n", iter(()))


@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcé; ,\"\n'x", max_size=8),
            st.text(alphabet="abcÉ ,x", max_size=8),
        ),
        max_size=12,
    ),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    st.sampled_from([",", ";"]),
)
def test_reading_from_any_row_position_yields_exactly_the_rows_after_it(
    values: list[tuple[str, str]], encoding: str, delimiter: str
) -> None:
    # Given any file (quoted fields, accents, either delimiter, any encoding)
    def quoted(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    text = f"email{delimiter}name\r\n" + "".join(
        f"{quoted(first)}{delimiter}{quoted(second)}\r\n" for first, second in values
    )
    data = text.encode(encoding)
    layout, rows_iterator = open_csv(data[:SNIFF_BYTES], _chunks(data[SNIFF_BYTES:], 5))
    rows = list(rows_iterator)
    assert [tuple((row.fields or {}).values()) for row in rows] == values
    # When reading again from the position after each row, as a resumed run does
    for index, row in enumerate(rows):
        again = list(read_rows(_chunks(data[row.end_offset :], 4), layout, row.end_offset, row.end_line))
        # Then it yields exactly the rows after it, at the same lines
        assert again == rows[index + 1 :]
