"""Import modes on the real adapters: DynamoDB Local, moto's SQS and an HTTP source served by the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
from contactsync.adapters.dynamodb_consent import DynamoConsentLedger, DynamoConsentTransactions
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.dynamodb_guards import DynamoRateLimiter, DynamoSuppressionList
from contactsync.adapters.dynamodb_import_jobs import DynamoImportJobs, DynamoJobRuns
from contactsync.adapters.http_json_connector import HttpJsonConnector
from contactsync.adapters.http_sessions import retrying_session
from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.adapters.sqs_change_publisher import (
    SqsChangePublisher,
    SqsOptInRequestPublisher,
    SqsRunQueue,
)
from contactsync.domain.import_jobs import HttpJsonSourceSettings, ImportJob, ImportMode, JobRun, Pagination
from contactsync.use_cases.ingest_contacts import IngestContacts, IngestDependencies
from contactsync.use_cases.run_imports import ManageImportJobs, RunImport
from contactsync_ops.local_stack.endpoints import LocalEndpoints
from tests.doubles.contacts_api_server import ContactsApiServer
from tests.integration.provisioned_stack import ProvisionedStack, provision_for_module

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "import-modes")


@pytest.fixture
def api() -> Iterator[ContactsApiServer]:
    with ContactsApiServer(count=30) as server:
        yield server


def importer(stack: ProvisionedStack) -> tuple[ManageImportJobs, RunImport]:
    table = stack.contacts_table
    deps = IngestDependencies(
        sources=DynamoSourceRepository(stack.dynamodb, table),
        contacts=DynamoContactRepository(stack.dynamodb, table),
        changes=SqsChangePublisher(stack.sqs, stack.queue_url("PushQueue")),
        opt_ins=SqsOptInRequestPublisher(stack.sqs, stack.queue_url("MailQueue")),
        suppression=DynamoSuppressionList(stack.dynamodb, table, lambda: b"test-key"),
        rate_limiter=DynamoRateLimiter(stack.dynamodb, table),
        signing_secrets=SecretsManagerSourceSigningSecrets(
            stack.secrets_manager, stack.secret_id("SourceSigningSecret")
        ),
        consent=DynamoConsentTransactions(stack.dynamodb, table, DynamoConsentLedger(stack.dynamodb, table)),
    )
    jobs, runs = DynamoImportJobs(stack.dynamodb, table), DynamoJobRuns(stack.dynamodb, table)
    manage = ManageImportJobs(jobs, runs, SqsRunQueue(stack.sqs, stack.queue_url("SyncQueue")))
    connector = HttpJsonConnector(retrying_session(pool_size=2), None, timeout_seconds=10)
    return manage, RunImport(jobs, runs, {"http_json": connector}, IngestContacts(deps))


def run(stack: ProvisionedStack, api: ContactsApiServer, job_id: str, mode: ImportMode, style: str) -> JobRun:
    manage, runner = importer(stack)
    pagination = {"page_number": Pagination.PAGE_NUMBER, "cursor": Pagination.CURSOR}.get(
        style, Pagination.NEXT_LINK
    )
    manage.add(
        ImportJob(
            job_id=job_id,
            name=job_id,
            connector=HttpJsonSourceSettings(url=api.url(style), pagination=pagination, page_size=10),
            mode=mode,
            permission_confirmed=True,
            created_at=datetime.now(UTC),
        )
    )
    result = runner.run_slice(manage.run_now(job_id).run_id, seconds_left=lambda: 900.0)
    assert result.finished
    assert result.run is not None
    return result.run


@pytest.mark.parametrize("style", ["page_number", "cursor", "next_link", "link_header"])
def test_every_pagination_style_imports_every_record_once(
    stack: ProvisionedStack, api: ContactsApiServer, style: str
) -> None:
    report = run(stack, api, f"paged-{style.replace('_', '-')}", ImportMode.ADD_AND_UPDATE, style)
    counters = report.counters
    assert counters.added + counters.unchanged == 30
    assert counters.rejected == 0


def test_each_mode_on_known_and_new_contacts(stack: ProvisionedStack, api: ContactsApiServer) -> None:
    # Given the first 30 contacts already imported, and a source that now also has 10 new ones and 5 changed
    run(stack, api, "modes-seed", ImportMode.ADD_AND_UPDATE, "page_number")
    for number in range(31, 41):
        api.append({"id": number, "email": f"late{number}@example.com", "first_name": "Late"})
    for number in range(1, 6):
        api.touch(number, datetime.now(UTC), first_name=f"Changed{number}")

    # When the same source is read in each mode
    update_only = run(stack, api, "modes-update-only", ImportMode.UPDATE_ONLY, "page_number").counters
    add_only = run(stack, api, "modes-add-only", ImportMode.ADD_ONLY, "page_number").counters
    both = run(stack, api, "modes-both", ImportMode.ADD_AND_UPDATE, "page_number").counters

    # Then update-only updates the changed and skips the new; add-only adds the new and skips the known
    assert (update_only.added, update_only.updated, update_only.skipped) == (0, 5, 10)
    assert (add_only.added, add_only.updated, add_only.skipped) == (10, 0, 30)
    # And add-and-update finds nothing left to do
    assert (both.added, both.updated, both.unchanged) == (0, 0, 40)
    contact = DynamoContactRepository(stack.dynamodb, stack.contacts_table).find_by_identity(
        "EMAIL#late35@example.com"
    )
    assert contact is not None
