"""An import run whose process is killed mid-way, then resumed, ends as an uninterrupted run does.

Each run executes in its own process (like a Lambda invocation) against DynamoDB Local
and moto; the killed one gets SIGKILL once it has saved a few pages.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from contactsync.adapters.dynamodb_import_jobs import DynamoImportJobs, DynamoJobRuns
from contactsync.adapters.sqs_change_publisher import SqsRunQueue
from contactsync.domain.import_jobs import HttpJsonSourceSettings, ImportJob, Pagination, RunStatus
from contactsync.use_cases.run_imports import ManageImportJobs
from contactsync_ops.local_stack.endpoints import LocalEndpoints
from tests.doubles.contacts_api_server import ContactsApiServer
from tests.integration.provisioned_stack import ProvisionedStack, provision_for_module

pytestmark = pytest.mark.integration

CONTACTS = 1500
RUN_ONE_SLICE = (
    "import sys; from contactsync.wiring import run_import; "
    "run_import().run_slice(sys.argv[1], lambda: 900.0)"
)


@pytest.fixture(scope="module")
def api() -> Iterator[ContactsApiServer]:
    with ContactsApiServer(count=CONTACTS) as server:
        yield server


def start_run(stack: ProvisionedStack, api: ContactsApiServer) -> str:
    manage = ManageImportJobs(
        DynamoImportJobs(stack.dynamodb, stack.contacts_table),
        DynamoJobRuns(stack.dynamodb, stack.contacts_table),
        SqsRunQueue(stack.sqs, stack.queue_url("SyncQueue")),
    )
    manage.add(
        ImportJob(
            job_id="members",
            name="Members",
            connector=HttpJsonSourceSettings(
                url=api.url("page_number"), pagination=Pagination.PAGE_NUMBER, page_size=100
            ),
            permission_confirmed=True,
            created_at=datetime.now(UTC),
        )
    )
    return manage.run_now("members").run_id


def slice_process(stack: ProvisionedStack, endpoints: LocalEndpoints, run_id: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        **endpoints.aws_environment(),
        **stack.function_environment("SyncFunction"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUN_ONE_SLICE, run_id],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def contacts_state(stack: ProvisionedStack) -> set[tuple[Any, ...]]:
    """What a user would compare: every stored contact's address, name, status and version."""
    rows: set[tuple[Any, ...]] = set()
    for page in stack.dynamodb.get_paginator("scan").paginate(TableName=stack.contacts_table):
        for item in page["Items"]:
            if item["sk"]["S"] == "PROFILE":
                profile = item["profile"]["M"]
                rows.add(
                    (
                        profile["email"]["S"],
                        profile.get("first_name", {}).get("S"),
                        item["status"]["S"],
                        item["version"]["N"],
                    )
                )
    return rows


def test_a_killed_run_resumes_to_the_state_of_an_uninterrupted_one(
    local_endpoints: LocalEndpoints, api: ContactsApiServer
) -> None:
    # Given the same source imported into two copies of the stack
    calm = provision_for_module(local_endpoints, "import-calm")
    killed = provision_for_module(local_endpoints, "import-killed")
    calm_run, killed_run = start_run(calm, api), start_run(killed, api)

    # When one run goes through in one process
    assert slice_process(calm, local_endpoints, calm_run).wait(timeout=240) == 0
    # And the other is killed once it has saved three pages, then resumed in a new process
    process = slice_process(killed, local_endpoints, killed_run)
    runs = DynamoJobRuns(killed.dynamodb, killed.contacts_table)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = runs.get(killed_run)
        if run is not None and run.counters.pages >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    interrupted = runs.get(killed_run)
    assert interrupted is not None
    assert interrupted.status is RunStatus.RUNNING
    assert 3 <= interrupted.counters.pages < CONTACTS // 100
    assert slice_process(killed, local_endpoints, killed_run).wait(timeout=240) == 0

    # Then both stores hold the same contacts, none lost, and the reports agree
    assert contacts_state(killed) == contacts_state(calm)
    assert len(contacts_state(calm)) == CONTACTS
    finished = runs.get(killed_run)
    uninterrupted = DynamoJobRuns(calm.dynamodb, calm.contacts_table).get(calm_run)
    assert finished is not None
    assert uninterrupted is not None
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.counters.added == uninterrupted.counters.added == CONTACTS


def test_a_run_killed_again_and_again_at_random_moments_still_ends_as_an_uninterrupted_one(
    local_endpoints: LocalEndpoints, api: ContactsApiServer
) -> None:
    # Given the same source imported into two copies of the stack, and seeded random kill moments
    calm = provision_for_module(local_endpoints, "import-calm-2")
    killed = provision_for_module(local_endpoints, "import-killed-2")
    calm_run, killed_run = start_run(calm, api), start_run(killed, api)
    assert slice_process(calm, local_endpoints, calm_run).wait(timeout=240) == 0
    moments = random.Random(20261123)  # noqa: S311 - repeatable kill moments, not security
    runs = DynamoJobRuns(killed.dynamodb, killed.contacts_table)

    # When each slice is killed after a random 0.3-3 s (mid-page, mid-write, or between pages)
    kills = 0
    for _ in range(8):
        process = slice_process(killed, local_endpoints, killed_run)
        try:
            process.wait(timeout=moments.uniform(0.3, 3.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
            continue
        break
    else:  # eight kills: let the last slice finish
        assert slice_process(killed, local_endpoints, killed_run).wait(timeout=240) == 0

    # Then it was interrupted at least once, and ends with the same contacts and counters
    assert kills >= 1
    assert contacts_state(killed) == contacts_state(calm)
    finished = runs.get(killed_run)
    assert finished is not None
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.counters.added == CONTACTS
