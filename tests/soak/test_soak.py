"""The long reliability run (`make soak`): load, hostile input, then load again under AWS faults.

Each step runs on a local stack of its own and adds its figures to docs/soak-results.json.
What must hold, as a user would check it: no 5xx (no 500 under faults, where 429 and 503 are
the documented answers), every contact answered 202 stored exactly once, one confirmation mail
per accepted address, and over 1,000 schemathesis cases with no contract failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from schemathesis import GenerationMode

from contactsync_ops.fault_injection import read_injected_counts
from tests.e2e.local_stack_process import started_local_stack
from tests.e2e.openapi_fuzzing import (
    INGEST,
    PAGES,
    FuzzReport,
    client_session,
    committed_contract,
    fuzz,
    operation_of,
)
from tests.e2e.stack_client import StackClient
from tests.e2e.webhook_load import (
    LoadPlan,
    LoadRecord,
    SendingSource,
    StoredOutcome,
    run_load,
    settle_and_compare,
)

SENDERS = 50
LOAD_SECONDS = 60
SOURCES = 10  # the per-source limit is 600 a minute; 429s still happen and are counted apart
FAULTS = "dynamodb=0.1,sqs=0.05"
MAIL_DRAIN_SECONDS = 300
FUZZ_CASES_PER_MODE = {INGEST: 300, **dict.fromkeys(PAGES, 60)}  # x2 modes, + 300 x2 unauthenticated


def register_sources(stack: StackClient, prefix: str) -> tuple[SendingSource, ...]:
    return tuple(
        SendingSource(f"{prefix}-{number}", stack.add_source(f"{prefix}-{number}"))
        for number in range(SOURCES)
    )


def load_step(stack: StackClient, local_stack: Any, plan: LoadPlan) -> tuple[LoadRecord, StoredOutcome]:
    record = run_load(stack.api_url, plan)
    outcome = settle_and_compare(
        stack, record, Path(local_stack.state["mail_dir"]), timeout=MAIL_DRAIN_SECONDS
    )
    return record, outcome


@pytest.mark.soak_step("load")
def test_load_50_senders_for_60_seconds(tmp_path: Path, soak_results: dict[str, Any]) -> None:
    with started_local_stack(tmp_path) as local_stack:
        # Given 10 double opt-in sources on a fresh stack
        stack = StackClient(local_stack)
        plan = LoadPlan(SENDERS, LOAD_SECONDS, register_sources(stack, "soak"), run_label="soak")
        # When 50 senders post single contacts for 60 seconds, sharing new addresses
        record, outcome = load_step(stack, local_stack, plan)
    figures = {**record.figures(), **outcome.figures(), "faults_injected": {}}
    figures["status_5xx_not_allowed"] = sum(figures["status_5xx"].values())
    soak_results["steps"]["load"] = figures
    # Then no answer is a 5xx, nothing accepted is lost or doubled, nothing refused is stored
    assert figures["status_5xx"] == {}, figures
    assert record.statuses()[0] == 0, f"connections failed: {figures}"
    assert outcome.lost == [], outcome.lost[:20]
    assert outcome.duplicated == [], outcome.duplicated[:20]
    assert outcome.answer_disagrees_with_storage == [], outcome.answer_disagrees_with_storage[:20]
    assert outcome.stored_without_acceptance == [], outcome.stored_without_acceptance[:20]
    # And every accepted address got exactly one confirmation mail
    assert outcome.mails_missing == [], outcome.mails_missing[:20]
    assert outcome.mails_duplicated == [], outcome.mails_duplicated[:20]


@pytest.mark.soak_step("schemathesis")
def test_schemathesis_over_a_thousand_cases(tmp_path: Path, soak_results: dict[str, Any]) -> None:
    report = FuzzReport()
    with started_local_stack(tmp_path) as local_stack:
        stack = StackClient(local_stack)
        token = stack.add_source("fuzz-source")
        authenticated = operation_of(committed_contract(), INGEST)
        committed = committed_contract()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Authenticated contacts of every shape, as the source
            fuzz(
                authenticated,
                report,
                base_url=stack.api_url,
                session=client_session("127.2.0.1"),
                cases=FUZZ_CASES_PER_MODE[INGEST],
                mode=mode,
                path_parameters={"source_id": "fuzz-source"},
                headers={"Authorization": f"Bearer {token}"},
            )
            # Every operation of the committed document, without credentials
            for label, cases in FUZZ_CASES_PER_MODE.items():
                fuzz(
                    operation_of(committed, label),
                    report,
                    base_url=stack.api_url,
                    session=client_session("127.2.0.2"),
                    cases=cases,
                    mode=mode,
                )
    figures = {
        **report.figures(),
        "status_5xx_not_allowed": sum(
            count for answer, count in report.statuses.items() if answer.rsplit(" ", 1)[1].startswith("5")
        ),
    }
    soak_results["steps"]["schemathesis"] = figures
    assert report.cases >= 1000, figures
    assert report.findings == {}, report.describe_findings()


@pytest.mark.soak_step("load_with_faults")
def test_load_under_dynamodb_and_sqs_faults(tmp_path: Path, soak_results: dict[str, Any]) -> None:
    with started_local_stack(tmp_path, "--faults", FAULTS) as local_stack:
        # Given a stack whose functions see a share of DynamoDB and SQS calls fail
        stack = StackClient(local_stack)
        sources = register_sources(stack, "faulty")
        # When 50 senders post for 60 seconds, posting again after a 429 or 503 as a sender should
        plan = LoadPlan(SENDERS, LOAD_SECONDS, sources, run_label="faults", retries=3)
        record, outcome = load_step(stack, local_stack, plan)
        injected = read_injected_counts(local_stack.state_dir)
    statuses = record.statuses()
    figures = {
        **record.figures(),
        **outcome.figures(),
        "faults": FAULTS,
        "faults_injected": injected,
        "status_5xx_not_allowed": sum(
            count for code, count in statuses.items() if code >= 500 and code != 503
        ),
        "gave_up_after_retries": sum(
            1 for exchange in record.exchanges if exchange.final and exchange.status in {429, 503}
        ),
    }
    soak_results["steps"]["load_with_faults"] = figures
    # Then faults were really injected, and no answer was a 500 (429 and 503 are allowed answers)
    assert sum(injected.values()) > 0, figures
    assert {code for code in statuses if code >= 500} <= {503}, figures
    assert statuses[0] == 0, f"connections failed: {figures}"
    # And every contact answered 202 is stored exactly once, under the id its answers gave
    assert outcome.lost == [], outcome.lost[:20]
    assert outcome.duplicated == [], outcome.duplicated[:20]
    assert outcome.answer_disagrees_with_storage == [], outcome.answer_disagrees_with_storage[:20]
    # And every accepted contact's confirmation mail went out exactly once
    assert outcome.mails_missing == [], outcome.mails_missing[:20]
    assert outcome.mails_duplicated == [], outcome.mails_duplicated[:20]
