"""Hostile input, fast: schemathesis against docs/openapi.json on the running local stack.

Every answer must keep the contract: no 5xx, a documented status code and content type, and
a body and headers that match the document. `make soak` runs the same with over 1,000 cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from schemathesis import GenerationMode

from tests.e2e.mail_sink_reader import link_in, wait_for_mail
from tests.e2e.openapi_fuzzing import (
    INGEST,
    PAGES,
    FuzzReport,
    check_answer,
    client_session,
    committed_contract,
    fuzz,
    operation_of,
)
from tests.e2e.stack_client import StackClient

pytestmark = pytest.mark.e2e

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
FUZZ_CLIENT_IP = "127.2.0.1"


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


def test_unauthenticated_ingest_requests_get_documented_refusals(stack: StackClient) -> None:
    # Given the committed contract and no credentials
    report = FuzzReport()
    ingest = operation_of(committed_contract(), INGEST)
    # When schemathesis sends valid and invalid requests to the ingest route
    for mode in MODES:
        fuzz(
            ingest,
            report,
            base_url=stack.api_url,
            session=requests.Session(),
            cases=40,
            mode=mode,
            derandomize=True,
        )
    # Then every answer is a documented refusal, never a 5xx
    assert report.cases >= 40, report.figures()
    assert report.findings == {}, report.describe_findings()
    assert not any(answer.endswith((" 202", " 500")) for answer in report.statuses), report.statuses


def test_authenticated_contacts_of_every_shape_get_documented_answers(stack: StackClient) -> None:
    # Given a source with a bearer token
    token = stack.add_source("fuzz-source")
    ingest = operation_of(committed_contract(), INGEST)
    report = FuzzReport()
    # When schemathesis posts generated contacts (valid and invalid, JSON and form) as that source
    for mode in MODES:
        fuzz(
            ingest,
            report,
            base_url=stack.api_url,
            session=client_session(FUZZ_CLIENT_IP),
            cases=60,
            mode=mode,
            path_parameters={"source_id": "fuzz-source"},
            headers={"Authorization": f"Bearer {token}"},
            derandomize=True,
        )
    # Then the handler answered each one (some accepted) and every answer keeps the contract
    assert report.statuses[f"{INGEST} 202"] > 0, report.figures()
    assert report.findings == {}, report.describe_findings()


def test_opt_in_pages_with_made_up_tokens_answer_as_documented(stack: StackClient) -> None:
    # Given the committed contract of the confirmation and unsubscribe pages
    schema = committed_contract()
    report = FuzzReport()
    # When schemathesis opens them with generated (unknown or malformed) tokens
    for label in PAGES:
        for mode in MODES:
            fuzz(
                operation_of(schema, label),
                report,
                base_url=stack.api_url,
                session=requests.Session(),
                cases=10,
                mode=mode,
                derandomize=True,
            )
    # Then every answer is one the document describes
    assert report.cases >= 40, report.figures()
    assert report.findings == {}, report.describe_findings()


def test_opt_in_pages_of_a_real_confirmation_mail_answer_as_documented(
    stack: StackClient, local_stack: Any
) -> None:
    # Given a contact that received its confirmation mail
    token = stack.add_source("fuzz-pages")
    address = "fuzz-pages@example.com"
    posted = client_session("127.2.0.2").post(
        f"{stack.api_url}/v1/sources/fuzz-pages/contacts",
        json={"email": address},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    mail = wait_for_mail(Path(local_stack.state["mail_dir"]), address)
    link_token = link_in(mail, "confirm").rsplit("/", 1)[1]
    # When the person opens the confirmation page (GET, then the page's POST without an action)
    schema = committed_contract()
    report = FuzzReport()
    for label in ("GET /v1/confirm/{token}", "POST /v1/confirm/{token}"):
        case = operation_of(schema, label).Case(path_parameters={"token": link_token})
        check_answer(case, case.call(base_url=stack.api_url, timeout=30), report, base_url=stack.api_url)
    # Then the pages answer as the document says
    assert report.statuses == {
        "GET /v1/confirm/{token} 200": 1,
        "POST /v1/confirm/{token} 200": 1,
    }, report.figures()
    assert report.findings == {}, report.describe_findings()
