"""Read contacts from CSV files dropped in an S3 bucket under a prefix, each file once.

``S3CsvConnector`` is the ``SourceConnector`` of ``S3CsvSourceSettings``:

- it lists the objects under ``bucket/prefix`` whose key ends in ``.csv`` (any
  case), in S3's key order, skipping those ``ImportedFiles`` already holds;
- it streams each file (never read whole): UTF-8 with or without a BOM, else
  Windows-1252 (Latin-1) when the first ``SNIFF_BYTES`` are not UTF-8; comma or
  semicolon, whichever the header line uses; the header's names are passed through
  as they are (the field mapping recognises English and French ones);
- each data row becomes ``SourceRecord(where="line N of KEY", fields={name: value})``;
  a row with the wrong number of columns or bytes the file's encoding cannot read
  becomes a record with a ``problem``, and the file goes on;
- pages hold at most ``page_rows`` rows of one file. A page's checkpoint is JSON
  ``{"key", "byte_offset", "line"}``: the file, the byte where the next row starts
  and the lines read so far; a resumed run re-reads the header, then asks S3 for
  the rest of the file with a ``Range``. The last page of a file points at the next
  file (``byte_offset`` 0, plus ``completed``: the file just finished), or is None.

A file is marked imported only once the run has stored the file's last page (the
page's ``on_applied``: pages are read ahead, so the generator being resumed says
nothing), or when a run resumes from a checkpoint naming it ``completed``. A run
that stops or crashes before that never marks a file whose rows were not all applied.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contactsync.domain.import_jobs import ImportJob, S3CsvSourceSettings, SourcePage, SourceRecord
from contactsync.errors import ConfigurationError, ContactsyncError, ServiceUnavailable

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

PAGE_ROWS = 500
SNIFF_BYTES = 64 * 1024  # the encoding is decided from this much of the start of a file
CHUNK_BYTES = 64 * 1024
ENCODING_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252 (Latin-1)"}
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes kept by the surrogateescape error handler
_RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "Throttling",
        "RequestLimitExceeded",
    }
)


class ImportedFiles(Protocol):
    """Which files of a job were fully imported (a DynamoDB table in production)."""

    def was_imported(self, job_id: str, key: str) -> bool: ...

    def mark_imported(self, job_id: str, key: str) -> None: ...


class FilePosition(BaseModel):
    """The checkpoint of an S3 CSV source: where the next row starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    byte_offset: int = Field(default=0, ge=0, description="the byte where the next line starts")
    line: int = Field(default=0, ge=0, description="lines read so far (the header is line 1)")
    completed: str | None = Field(
        default=None, description="a file whose last page was applied; marked imported on resume"
    )

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)


# -- reading one CSV file from a stream of bytes ----------------------------------------------------


class CsvFileProblem(ValueError):
    """A file that has no readable header; the message never repeats its content."""


@dataclass(frozen=True)
class CsvLayout:
    """What the start of a file decides: encoding, delimiter, header names, where the data starts."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    data_offset: int
    data_line: int


@dataclass(frozen=True)
class CsvRow:
    """One row: its fields or why it cannot be read, and the position just after it."""

    line: int
    end_line: int
    end_offset: int
    fields: dict[str, str] | None = None
    problem: str | None = None


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(``utf-8`` or ``cp1252``, length of the BOM) decided from the first bytes of a file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252", 0
    return "utf-8", 0


def sniff_delimiter(header_line: str) -> str:
    """``;`` when the header line has more semicolons than commas outside quotes, else ``,``."""
    counts = {",": 0, ";": 0}
    quoted = False
    for character in header_line:
        if character == '"':
            quoted = not quoted
        elif not quoted and character in counts:
            counts[character] += 1
    return ";" if counts[";"] > counts[","] else ","


def _split_lines(chunks: Iterable[bytes], offset: int) -> Iterator[tuple[bytes, int]]:
    """Physical lines (ending with ``\\n`` but the last) and the byte offset just after each."""
    pending = bytearray()
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            pending += chunk[start : end + 1]
            offset += len(pending)
            yield bytes(pending), offset
            pending.clear()
            start = end + 1
        pending += chunk[start:]
    if pending:
        yield bytes(pending), offset + len(pending)


class _Lines:
    """Decoded lines for ``csv.reader``, keeping the position after the last line handed out."""

    def __init__(self, chunks: Iterable[bytes], encoding: str, offset: int, line: int) -> None:
        self._lines = _split_lines(chunks, offset)
        self._encoding = encoding
        self.offset = offset
        self.line = line

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        data, self.offset = next(self._lines)
        self.line += 1
        return data.decode(self._encoding, "surrogateescape")


def open_csv(head: bytes, rest: Iterable[bytes]) -> tuple[CsvLayout, Iterator[CsvRow]]:
    """The layout of a file and its data rows, from its first ``SNIFF_BYTES`` and the bytes after them."""
    encoding, bom = detect_encoding(head)
    lines = _Lines(chain([head[bom:]], rest), encoding, offset=bom, line=0)
    first = next((text for text in lines if text.strip()), None)
    if first is None:
        raise CsvFileProblem("the file is empty: it has no header row")
    delimiter = sniff_delimiter(first)
    reader = csv.reader(chain([first], lines), delimiter=delimiter, strict=False)
    try:
        cells = next(reader)
    except csv.Error as error:
        raise CsvFileProblem(f"the header row is not valid CSV ({error})") from None
    while cells and not cells[-1].strip():
        cells.pop()  # a trailing delimiter
    header = tuple(cell.strip() or f"column_{index}" for index, cell in enumerate(cells, start=1))
    layout = CsvLayout(encoding, delimiter, header, data_offset=lines.offset, data_line=lines.line)
    return layout, _rows(reader, lines, layout)


def read_rows(chunks: Iterable[bytes], layout: CsvLayout, offset: int, line: int) -> Iterator[CsvRow]:
    """The data rows of a file from ``offset`` (the start of line ``line + 1``) on."""
    lines = _Lines(chunks, layout.encoding, offset, line)
    reader = csv.reader(lines, delimiter=layout.delimiter, strict=False)
    return _rows(reader, lines, layout)


def _rows(reader: Iterator[list[str]], lines: _Lines, layout: CsvLayout) -> Iterator[CsvRow]:
    width = len(layout.header)
    while True:
        first_line = lines.line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield CsvRow(first_line, lines.line, lines.offset, problem=f"not valid CSV ({error})")
            continue
        if not cells or (len(cells) == 1 and width > 1 and not cells[0].strip()):
            continue  # a blank line
        while len(cells) > width and not cells[-1].strip():
            cells.pop()  # trailing delimiters
        if len(cells) != width:
            problem = f"{len(cells)} columns where the header has {width}"
        elif any(_UNDECODABLE.search(cell) for cell in cells):
            problem = f"bytes that are not valid {ENCODING_NAMES.get(layout.encoding, layout.encoding)}"
        else:
            fields = dict(zip(layout.header, cells, strict=True))
            yield CsvRow(first_line, lines.line, lines.offset, fields=fields)
            continue
        yield CsvRow(first_line, lines.line, lines.offset, problem=problem)


# -- the connector ----------------------------------------------------------------------------------


class S3CsvConnector:
    """``SourceConnector`` for CSV files dropped in an S3 bucket."""

    def __init__(self, client: S3Client, imported: ImportedFiles, page_rows: int = PAGE_ROWS) -> None:
        if page_rows < 1:
            raise ValueError("page_rows must be at least 1")
        self._client = client
        self._imported = imported
        self._page_rows = page_rows

    def pages(
        self, job: ImportJob, checkpoint: str | None, incremental_cursor: str | None
    ) -> Iterator[SourcePage]:
        """Pages from ``checkpoint`` on; the last has ``next_checkpoint`` None (one empty page: no file)."""
        settings = job.connector
        if not isinstance(settings, S3CsvSourceSettings):
            raise ConfigurationError(f"job {job.job_id} does not read CSV files from S3")
        position: FilePosition | None = None
        if checkpoint is not None:
            try:
                position = FilePosition.model_validate_json(checkpoint)
            except ValidationError:
                raise ConfigurationError("the checkpoint is not one of an S3 CSV source") from None
        return self._pages(job.job_id, settings, position, incremental_cursor)

    def _pages(
        self,
        job_id: str,
        settings: S3CsvSourceSettings,
        position: FilePosition | None,
        incremental_cursor: str | None,
    ) -> Iterator[SourcePage]:
        try:
            if position is not None and position.completed is not None:
                self._imported.mark_imported(job_id, position.completed)
            keys = self._keys(job_id, settings, start_after=position.key if position else None)
            if position is None:
                first_key = next(keys, None)
                position = FilePosition(key=first_key) if first_key is not None else None
            if position is None:
                yield SourcePage(records=[], next_checkpoint=None, incremental_cursor=incremental_cursor)
                return
            while position is not None:
                key = position.key
                for records, end, found in self._file_pages(settings.bucket, position):
                    if end is not None:
                        yield SourcePage(
                            records=records, next_checkpoint=end.dump(), incremental_cursor=incremental_cursor
                        )
                        continue
                    next_key = next(keys, None)
                    completed = key if found else None
                    following = FilePosition(key=next_key, completed=completed) if next_key else None
                    yield SourcePage(
                        records=records,
                        next_checkpoint=following.dump() if following is not None else None,
                        incremental_cursor=incremental_cursor,
                        # The file is done once its last page is stored, not when the next one is read.
                        on_applied=partial(self._imported.mark_imported, job_id, key) if found else None,
                    )
                    position = FilePosition(key=next_key) if next_key is not None else None
        except ClientError as error:
            raise _translated(error) from error
        except BotoCoreError as error:
            raise ServiceUnavailable(f"S3 could not be read ({type(error).__name__})") from error

    def _keys(self, job_id: str, settings: S3CsvSourceSettings, start_after: str | None) -> Iterator[str]:
        """CSV keys under the prefix, in S3's order (by key), not imported yet, after ``start_after``."""
        paginator = self._client.get_paginator("list_objects_v2")
        if start_after is None:
            listing = paginator.paginate(Bucket=settings.bucket, Prefix=settings.prefix)
        else:
            listing = paginator.paginate(
                Bucket=settings.bucket, Prefix=settings.prefix, StartAfter=start_after
            )
        for answer in listing:
            for entry in answer.get("Contents", []):
                key = entry.get("Key", "")
                if key.lower().endswith(".csv") and not self._imported.was_imported(job_id, key):
                    yield key

    def _file_pages(
        self, bucket: str, position: FilePosition
    ) -> Iterator[tuple[list[SourceRecord], FilePosition | None, bool]]:
        """Pages of one file from ``position``: records, the position after them (None: the file's end),
        and whether the file was found (a file deleted since it was listed is never marked imported)."""
        key = position.key
        bodies: list[StreamingBody] = []
        try:
            try:
                rows = self._open(bucket, position, bodies)
            except CsvFileProblem as problem:
                yield [SourceRecord(where=f"line 1 of {key}", problem=str(problem))], None, True
                return
            if rows is None:
                yield [], None, False  # the file is gone since it was listed
                return
            page: list[SourceRecord] = []
            last: CsvRow | None = None
            for row in rows:
                if len(page) == self._page_rows and last is not None:
                    # Another row follows: this page is not the file's last.
                    yield page, FilePosition(key=key, byte_offset=last.end_offset, line=last.end_line), True
                    page = []
                where = f"line {row.line} of {key}"
                if row.fields is not None:
                    page.append(SourceRecord(where=where, fields=row.fields))
                else:
                    page.append(SourceRecord(where=where, problem=row.problem or "unreadable row"))
                last = row
            yield page, None, True
        finally:
            for body in bodies:
                body.close()

    def _open(
        self, bucket: str, position: FilePosition, bodies: list[StreamingBody]
    ) -> Iterator[CsvRow] | None:
        """The rows of a file from ``position``; None when the object is missing."""
        try:
            body = self._client.get_object(Bucket=bucket, Key=position.key)["Body"]
        except ClientError as error:
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise
        bodies.append(body)
        layout, rows = open_csv(body.read(SNIFF_BYTES), _chunks(body))
        if position.byte_offset <= layout.data_offset:
            return rows
        body.close()  # only the header was needed: read the rest from the checkpoint's byte
        try:
            rest = self._client.get_object(
                Bucket=bucket, Key=position.key, Range=f"bytes={position.byte_offset}-"
            )["Body"]
        except ClientError as error:
            if _code(error) in {"InvalidRange", "416"}:
                return iter(())  # nothing after the checkpoint
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise
        bodies.append(rest)
        return read_rows(_chunks(rest), layout, position.byte_offset, position.line)


def _chunks(body: StreamingBody) -> Iterator[bytes]:
    return body.iter_chunks(CHUNK_BYTES)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _translated(error: ClientError) -> ContactsyncError:
    code = _code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _RETRYABLE_CODES or status >= 500:
        return ServiceUnavailable(f"S3 answered {code or status}; the run resumes later")
    return ConfigurationError(f"S3 answered {code or status} (check the bucket, prefix and permissions)")
