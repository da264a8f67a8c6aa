"""The import connectors against real protocols: an HTTP JSON API served by the test, CSV in moto's S3."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from botocore.config import Config

from contactsync.adapters.dynamodb_import_jobs import DynamoImportedFiles
from contactsync.adapters.http_json_connector import HttpJsonConnector
from contactsync.adapters.http_sessions import retrying_session
from contactsync.adapters.s3_csv_connector import S3CsvConnector
from contactsync.domain.field_mapping import DateOrder, FieldMapping, map_payload, parse_date
from contactsync.domain.import_jobs import (
    HttpJsonSourceSettings,
    ImportJob,
    Pagination,
    S3CsvSourceSettings,
    SourcePage,
)
from contactsync.errors import ConfigurationError, ServiceUnavailable
from contactsync_ops.local_stack.endpoints import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY
from tests.doubles.contacts_api_server import ContactsApiServer, generated_contact
from tests.integration.provisioned_stack import ProvisionedStack, provision_for_module

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from mypy_boto3_s3 import S3Client

    from contactsync_ops.local_stack.endpoints import LocalEndpoints

pytestmark = pytest.mark.integration

TOKEN = "source-token-0123456789"
SECRET_KEY = "contacts_api_token"
STYLES: dict[str, Pagination] = {
    "page_number": Pagination.PAGE_NUMBER,
    "cursor": Pagination.CURSOR,
    "next_link": Pagination.NEXT_LINK,
    "link_header": Pagination.NEXT_LINK,
}


def _job(
    connector: HttpJsonSourceSettings | S3CsvSourceSettings, job_id: str = "nightly-import", **extra: Any
) -> ImportJob:
    return ImportJob(
        job_id=job_id,
        name="Nightly import",
        connector=connector,
        permission_confirmed=True,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        **extra,
    )


def _emails(pages: list[SourcePage]) -> list[str]:
    return [record.fields["email"] for page in pages for record in page.records]


# -- HTTP JSON API ----------------------------------------------------------------------------------


@pytest.fixture
def session() -> Iterator[requests.Session]:
    # Short backoff keeps the tests quick; Retry-After is honoured as in production.
    http = retrying_session(pool_size=4, backoff_factor=0.01, backoff_jitter=0.01)
    yield http
    http.close()


@pytest.fixture
def http_connector(session: requests.Session) -> HttpJsonConnector:
    tokens = {SECRET_KEY: TOKEN}
    return HttpJsonConnector(session, tokens.__getitem__, timeout_seconds=5)


def _http_job(server: ContactsApiServer, style: str, page_size: int = 10, **settings: Any) -> ImportJob:
    return _job(
        HttpJsonSourceSettings(
            url=server.url(style),
            pagination=STYLES[style],
            page_size=page_size,
            credentials_secret_key=SECRET_KEY,
            **settings,
        )
    )


@pytest.mark.parametrize("style", list(STYLES))
def test_each_pagination_style_yields_every_record_once_across_pages(
    http_connector: HttpJsonConnector, style: str
) -> None:
    # Given an API holding 25 contacts, 10 a page
    with ContactsApiServer(count=25, token=TOKEN) as server:
        # When the whole source is read
        pages = list(http_connector.pages(_http_job(server, style), None, None))

    # Then every contact came once, in order, numbered across pages, in three pages
    assert _emails(pages) == [f"person{n}@example.com" for n in range(1, 26)]
    assert [record.where for page in pages for record in page.records] == [
        f"record {n}" for n in range(1, 26)
    ]
    assert [len(page.records) for page in pages] == [10, 10, 5]
    assert [page.next_checkpoint is None for page in pages] == [False, False, True]
    assert all(record.problem is None for page in pages for record in page.records)
    assert all(request.get("per_page") == "10" for request in server.requests)


def test_page_numbers_stop_at_an_empty_page_when_the_last_page_is_full(
    http_connector: HttpJsonConnector,
) -> None:
    # Given 20 contacts, 10 a page
    with ContactsApiServer(count=20, token=TOKEN) as server:
        # When read by page number
        pages = list(http_connector.pages(_http_job(server, "page_number"), None, None))

    # Then a third, empty page ends the run
    assert [len(page.records) for page in pages] == [10, 10, 0]
    assert pages[-1].next_checkpoint is None
    assert [request["page"] for request in server.requests] == ["1", "2", "3"]


@pytest.mark.parametrize("style", list(STYLES))
def test_resuming_from_a_page_checkpoint_yields_exactly_the_remaining_records(
    http_connector: HttpJsonConnector, style: str
) -> None:
    # Given a run that stopped after its first page (a Lambda handing over, or a crash)
    with ContactsApiServer(count=25, token=TOKEN) as server:
        job = _http_job(server, style)
        first_run = http_connector.pages(job, None, None)
        first_page = next(first_run)
        first_run.close()
        assert first_page.next_checkpoint is not None

        # When a new run starts from that page's checkpoint
        rest = list(http_connector.pages(job, first_page.next_checkpoint, None))

    # Then it reads exactly the contacts after the first page, numbered where the first run left off
    assert _emails(rest) == [f"person{n}@example.com" for n in range(11, 26)]
    assert rest[0].records[0].where == "record 11"
    assert json.loads(first_page.next_checkpoint)["records"] == 10


def test_an_incremental_run_reads_only_what_changed_since_the_last_cursor(
    http_connector: HttpJsonConnector,
) -> None:
    with ContactsApiServer(count=30, token=TOKEN) as server:
        job = _http_job(server, "cursor", page_size=2, updated_since_param="updated_since")
        # Given a first run that read everything and ended on the newest updated_at
        first = list(http_connector.pages(job, None, None))
        cursor = first[-1].incremental_cursor
        assert cursor == generated_contact(30)["updated_at"]
        assert len(_emails(first)) == 30
        assert "updated_since" not in server.requests[0]
        # ... and three contacts changed since, listed in id order but not in updated_at order
        server.touch(5, datetime(2025, 3, 1, 12, 2, tzinfo=UTC), first_name="Five")
        server.touch(10, datetime(2025, 3, 1, 12, 1, tzinfo=UTC))
        server.touch(15, datetime(2025, 3, 1, 12, 0, tzinfo=UTC))

        # When the next run starts from the saved cursor, and stops after its first page
        second = http_connector.pages(job, None, cursor)
        page = next(second)
        second.close()
        assert server.requests[-1]["updated_since"] == cursor
        # ... and resumes with the cursor that page carried
        rest = list(http_connector.pages(job, page.next_checkpoint, page.incremental_cursor))

    # Then it read exactly the three changed contacts (the resumed run kept the run's own filter)
    assert _emails([page, *rest]) == [f"person{n}@example.com" for n in (5, 10, 15)]
    assert page.records[0].fields["first_name"] == "Five"
    assert page.incremental_cursor == "2025-03-01T12:02:00Z"
    assert server.requests[-1]["updated_since"] == cursor
    # ... and the cursor to save for the next run is the newest updated_at seen
    assert rest[-1].incremental_cursor == "2025-03-01T12:02:00Z"


def test_server_errors_are_retried_until_the_source_answers(
    http_connector: HttpJsonConnector, retry_waits: list[float]
) -> None:
    # Given an API that fails twice with a 500, then once with a 429 and a short Retry-After
    with ContactsApiServer(count=15, token=TOKEN) as server:
        server.fail_next(2, 500)
        pages = http_connector.pages(_http_job(server, "page_number"), None, None)
        first = next(pages)
        waits_for_the_500s = len(retry_waits)
        server.fail_next(1, 429, retry_after=1)

        # When the whole source is read
        rest = list(pages)

    # Then every contact came once, and the Retry-After was honoured: one wait, of the second asked for
    assert _emails([first, *rest]) == [f"person{n}@example.com" for n in range(1, 16)]
    assert retry_waits[waits_for_the_500s:] == [1]
    assert len(server.requests) == 2 + 1 + 1 + 1


def test_a_source_still_failing_raises_service_unavailable_and_the_run_resumes_later(
    http_connector: HttpJsonConnector,
) -> None:
    with ContactsApiServer(count=25, token=TOKEN) as server:
        job = _http_job(server, "next_link")
        # Given a run whose source goes down after the first page
        pages = http_connector.pages(job, None, None)
        first = next(pages)
        server.fail_next(10, 503)

        # When the next page is asked for, the failure is reported as temporary
        with pytest.raises(ServiceUnavailable, match="503"):
            next(pages)

        # Then, once the source is back, a run from the saved checkpoint reads the rest
        server.heal()
        rest = list(http_connector.pages(job, first.next_checkpoint, None))
    assert _emails([first, *rest]) == [f"person{n}@example.com" for n in range(1, 26)]


def test_a_rejected_token_raises_a_configuration_error_without_the_token(session: requests.Session) -> None:
    # Given a connector whose credentials the API refuses
    connector = HttpJsonConnector(session, lambda _key: "wrong-token", timeout_seconds=5)
    with ContactsApiServer(count=5, token=TOKEN) as server:
        # When the source is read / Then it fails at once with the status and not the token
        with pytest.raises(ConfigurationError, match="401") as failure:
            list(connector.pages(_http_job(server, "page_number"), None, None))
        assert len(server.requests) == 1  # a 4xx is not retried
    assert "wrong-token" not in str(failure.value)


def test_a_record_that_is_not_an_object_is_reported_and_the_rest_imports(
    http_connector: HttpJsonConnector,
) -> None:
    # Given an API whose third record is a bare string
    with ContactsApiServer(count=2, token=TOKEN) as server:
        server.append("not a contact")
        server.append(generated_contact(4))
        # When read
        pages = list(http_connector.pages(_http_job(server, "cursor"), None, None))

    # Then the string is a problem at record 3 and the others are read
    records = [record for page in pages for record in page.records]
    assert [(record.where, record.problem is None) for record in records] == [
        ("record 1", True),
        ("record 2", True),
        ("record 3", False),
        ("record 4", True),
    ]


# -- CSV files in S3 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(moto_server: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"drop-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "import-connectors")


@pytest.fixture
def imported(stack: ProvisionedStack) -> DynamoImportedFiles:
    # The files a job has imported, on the contacts table in DynamoDB Local, as in production
    return DynamoImportedFiles(stack.dynamodb, stack.contacts_table)


@pytest.fixture
def csv_connector(s3: S3Client, imported: DynamoImportedFiles) -> S3CsvConnector:
    return S3CsvConnector(s3, imported)


def _csv_job(bucket: str, **extra: Any) -> ImportJob:
    # One job per test (its bucket is new), so the files one test imports are not imported in another
    return _job(S3CsvSourceSettings(bucket=bucket, prefix="imports/"), job_id=f"import-{bucket}", **extra)


def _imported_keys(imported: DynamoImportedFiles, job: ImportJob, *keys: str) -> list[str]:
    """Which of ``keys`` the table records as imported by ``job``."""
    return [key for key in keys if imported.was_imported(job.job_id, key)]


def applied(pages: Iterable[SourcePage]) -> list[SourcePage]:
    """Every page, each acknowledged once "stored", as the import run does after saving its checkpoint."""
    stored: list[SourcePage] = []
    for page in pages:
        stored.append(page)
        if page.on_applied is not None:
            page.on_applied()
    return stored


def _rows(count: int, start: int = 1) -> str:
    return "".join(f"person{n}@example.com,First{n},Last{n}\r\n" for n in range(start, start + count))


def test_a_utf8_comma_file_yields_one_record_per_row_with_its_line(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector, imported: DynamoImportedFiles
) -> None:
    # Given a UTF-8 file with a BOM, English headers, and a file that is not CSV next to it
    content = (
        "\ufeffEmail,First Name,Last Name\r\n"
        "ada@example.com,Ada,Lovelace\r\n"
        'zoe@example.com,Zoë,"O\'Neil, Jr"\r\n'
    )
    s3.put_object(Bucket=bucket, Key="imports/shop.csv", Body=content.encode("utf-8"))
    s3.put_object(Bucket=bucket, Key="imports/readme.txt", Body=b"not,a,csv\n")

    # When the source is read to the end
    job = _csv_job(bucket)
    pages = applied(csv_connector.pages(job, None, None))

    # Then each row is a record of its line, named by the header, and the CSV file is marked imported
    records = [record for page in pages for record in page.records]
    assert [(record.where, record.fields) for record in records] == [
        (
            "line 2 of imports/shop.csv",
            {"Email": "ada@example.com", "First Name": "Ada", "Last Name": "Lovelace"},
        ),
        (
            "line 3 of imports/shop.csv",
            {"Email": "zoe@example.com", "First Name": "Zoë", "Last Name": "O'Neil, Jr"},
        ),
    ]
    assert pages[-1].next_checkpoint is None
    assert _imported_keys(imported, job, "imports/shop.csv", "imports/readme.txt") == ["imports/shop.csv"]


def test_a_latin1_semicolon_french_file_is_read_with_its_french_names_and_dates(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector
) -> None:
    # Given a French export from a spreadsheet: Windows-1252, semicolons, dd/mm/yyyy
    content = (
        "Courriel;Prénom;Nom;Date de naissance\r\n"
        "helene@example.com;Hélène;Côté;25/12/1980\r\n"
        "francois@example.com;François;Lefèvre;03/04/1975\r\n"
    )
    s3.put_object(Bucket=bucket, Key="imports/membres.CSV", Body=content.encode("cp1252"))

    # When read
    pages = applied(csv_connector.pages(_csv_job(bucket), None, None))

    # Then the accents survive, the columns are split on semicolons, and the mapping understands them
    records = [record for page in pages for record in page.records]
    assert records[0].fields == {
        "Courriel": "helene@example.com",
        "Prénom": "Hélène",
        "Nom": "Côté",
        "Date de naissance": "25/12/1980",
    }
    assert records[1].where == "line 3 of imports/membres.CSV"
    mapped = map_payload(records[0].fields, FieldMapping(date_order=DateOrder.DAY_FIRST))
    assert mapped.values == {
        "email": "helene@example.com",
        "first_name": "Hélène",
        "last_name": "Côté",
        "birthday": "25/12/1980",  # "Date de naissance" is recognised; the job's date order reads it
    }
    assert parse_date(records[1].fields["Date de naissance"], DateOrder.DAY_FIRST) == "1975-04-03"


def test_a_bad_row_is_reported_with_its_line_and_the_rest_of_the_file_imports(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector
) -> None:
    # Given a Latin-1 file with a short row on line 3 and a byte Windows-1252 does not define on line 5
    content = (
        b"email;prenom;nom\r\n"
        b"a@example.com;Andr\xe9;Roy\r\n"
        b"b@example.com;Bea\r\n"
        b"c@example.com;C\xe9line;Roy\r\n"
        b"d@example.com;D\x81;Roy\r\n"
        b"\r\n"
        b"e@example.com;Eve;Roy\r\n"
    )
    s3.put_object(Bucket=bucket, Key="imports/a.csv", Body=content)

    # When read
    records = [
        record for page in csv_connector.pages(_csv_job(bucket), None, None) for record in page.records
    ]

    # Then the two bad rows are problems at their lines, and every other row is read
    assert [(record.where, record.problem) for record in records if record.problem] == [
        ("line 3 of imports/a.csv", "2 columns where the header has 3"),
        ("line 5 of imports/a.csv", "bytes that are not valid Windows-1252 (Latin-1)"),
    ]
    assert [record.fields["email"] for record in records if not record.problem] == [
        "a@example.com",
        "c@example.com",
        "e@example.com",
    ]
    assert records[-1].where == "line 7 of imports/a.csv"


def test_a_file_is_imported_once_and_only_after_its_last_page_was_stored(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector, imported: DynamoImportedFiles
) -> None:
    # Given two files under the prefix, and one outside it
    s3.put_object(Bucket=bucket, Key="imports/2024-01-02.csv", Body=b"email\nb@example.com\n")
    s3.put_object(Bucket=bucket, Key="imports/2024-01-01.csv", Body=b"email\na@example.com\n")
    s3.put_object(Bucket=bucket, Key="elsewhere/x.csv", Body=b"email\nx@example.com\n")
    job = _csv_job(bucket)

    # When a run reads the first file's page and, reading ahead, the second's, storing neither yet
    run = csv_connector.pages(job, None, None)
    first = next(run)
    second = next(run)
    # Then no file is marked yet, and the first page points at the next file
    assert _imported_keys(imported, job, "imports/2024-01-01.csv", "imports/2024-01-02.csv") == []
    assert json.loads(first.next_checkpoint or "") == {
        "key": "imports/2024-01-02.csv",
        "byte_offset": 0,
        "line": 0,
        "completed": "imports/2024-01-01.csv",
    }

    # When the run stores the first page / Then only the first file is marked
    assert first.on_applied is not None
    first.on_applied()
    assert _imported_keys(imported, job, "imports/2024-01-01.csv", "imports/2024-01-02.csv") == [
        "imports/2024-01-01.csv"
    ]

    # When the run goes on to the end
    rest = applied([second, *run])
    # Then both files were read in key order and are marked imported, and the one outside the prefix is not
    assert _emails([first, *rest]) == ["a@example.com", "b@example.com"]
    assert _imported_keys(
        imported, job, "imports/2024-01-01.csv", "imports/2024-01-02.csv", "elsewhere/x.csv"
    ) == ["imports/2024-01-01.csv", "imports/2024-01-02.csv"]

    # When the job runs again
    again = applied(csv_connector.pages(job, None, None))
    # Then it reads nothing: each file was imported once
    assert [page.records for page in again] == [[]]
    assert again[0].next_checkpoint is None


def test_a_run_resumed_from_a_checkpoint_naming_a_completed_file_marks_it(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector, imported: DynamoImportedFiles
) -> None:
    # Given a run that crashed after saving the checkpoint that moved past its first file
    s3.put_object(Bucket=bucket, Key="imports/1.csv", Body=b"email\na@example.com\n")
    s3.put_object(Bucket=bucket, Key="imports/2.csv", Body=b"email\nb@example.com\n")
    job = _csv_job(bucket)
    crashed = csv_connector.pages(job, None, None)
    checkpoint = next(crashed).next_checkpoint
    crashed.close()
    assert _imported_keys(imported, job, "imports/1.csv", "imports/2.csv") == []

    # When a run resumes from it
    rest = applied(csv_connector.pages(job, checkpoint, None))

    # Then the first file is marked imported without being read again, and the second is read
    assert _emails(rest) == ["b@example.com"]
    assert _imported_keys(imported, job, "imports/1.csv", "imports/2.csv") == [
        "imports/1.csv",
        "imports/2.csv",
    ]


def test_1500_rows_come_in_three_pages_of_500(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector
) -> None:
    # Given one file of 1,500 rows
    s3.put_object(Bucket=bucket, Key="imports/big.csv", Body=("email,first,last\r\n" + _rows(1500)).encode())

    # When read
    pages = applied(csv_connector.pages(_csv_job(bucket), None, None))

    # Then it took three pages of 500, the last one ending the run
    assert [len(page.records) for page in pages] == [500, 500, 500]
    assert [page.next_checkpoint is None for page in pages] == [False, False, True]
    assert pages[2].records[-1].where == "line 1501 of imports/big.csv"
    assert _emails(pages) == [f"person{n}@example.com" for n in range(1, 1501)]


def test_a_run_resumed_mid_file_reads_exactly_the_remaining_rows(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector, imported: DynamoImportedFiles
) -> None:
    # Given a French file of 1,200 rows, whose run stopped after the first page
    header = "Courriel;Prénom;Nom\r\n"
    rows = "".join(f"p{n}@example.com;Élodie{n};Gagné\r\n" for n in range(1, 1201))
    s3.put_object(Bucket=bucket, Key="imports/big.csv", Body=(header + rows).encode("utf-8"))
    job = _csv_job(bucket)
    stopped = csv_connector.pages(job, None, None)
    first = next(stopped)
    stopped.close()
    checkpoint = json.loads(first.next_checkpoint or "")
    assert checkpoint["key"] == "imports/big.csv"
    assert checkpoint["line"] == 501
    assert _imported_keys(imported, job, "imports/big.csv") == []

    # When a new run starts from that checkpoint
    rest = applied(csv_connector.pages(job, first.next_checkpoint, None))

    # Then it reads rows 501 to 1,200 once, with their own line numbers and header names
    records = [record for page in rest for record in page.records]
    assert [record.fields["Courriel"] for record in records] == [
        f"p{n}@example.com" for n in range(501, 1201)
    ]
    assert records[0].where == "line 502 of imports/big.csv"
    assert records[0].fields["Prénom"] == "Élodie501"
    assert _imported_keys(imported, job, "imports/big.csv") == ["imports/big.csv"]


def test_an_empty_file_is_reported_and_marked_imported(
    s3: S3Client, bucket: str, csv_connector: S3CsvConnector, imported: DynamoImportedFiles
) -> None:
    # Given an empty file and a header-only file
    s3.put_object(Bucket=bucket, Key="imports/a.csv", Body=b"")
    s3.put_object(Bucket=bucket, Key="imports/b.csv", Body=b"email,name\r\n")

    # When read
    job = _csv_job(bucket)
    pages = applied(csv_connector.pages(job, None, None))

    # Then the empty file is one problem, the header-only file nothing, and both are marked imported
    assert [[(record.where, record.problem) for record in page.records] for page in pages] == [
        [("line 1 of imports/a.csv", "the file is empty: it has no header row")],
        [],
    ]
    assert _imported_keys(imported, job, "imports/a.csv", "imports/b.csv") == [
        "imports/a.csv",
        "imports/b.csv",
    ]
