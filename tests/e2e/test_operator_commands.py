"""README operator commands no other e2e module drives: credential rotation, pausing a job."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.e2e.stack_client import StackClient, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


def new_credential(output: str) -> str:
    match = re.search(r"(?:Bearer token|Signing secret): (\S+)", output)
    assert match, output
    return match.group(1)


def rotate(stack: StackClient, source_id: str, grace_hours: str) -> str:
    return new_credential(
        run_cli(
            "sources",
            "rotate-secret",
            source_id,
            "--grace-hours",
            grace_hours,
            "--state-dir",
            stack.state_dir,
        )
    )


# Each Ingest container remembers a source and its signing secrets this long (README: rotation)
CACHE_SECONDS = 10


def status_once_caches_expire(
    post: Callable[[str], requests.Response], credential: str, expected: int
) -> int:
    """The status a request with ``credential`` gets once every container's cached copy has expired."""
    deadline = time.monotonic() + CACHE_SECONDS + 10
    status = post(credential).status_code
    while status != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        status = post(credential).status_code
    return status


def signed_post(stack: StackClient, source_id: str, secret: str, email: str) -> requests.Response:
    return stack.post_signed(source_id, secret, json.dumps({"email": email}), f"msg_{email.split('@')[0]}")


def test_a_rotated_bearer_token_keeps_the_old_one_for_the_grace_period_only(stack: StackClient) -> None:
    # Given a source and its token
    first = stack.add_source("rotating-shop", "--consent-mode", "data_only")
    # When the operator rotates it with a grace period
    second = rotate(stack, "rotating-shop", "24")
    # Then both tokens work while the sending tool switches
    statuses = [
        stack.post("rotating-shop", token, {"email": "r1@example.com"}).status_code
        for token in (first, second)
    ]
    assert statuses == [202, 202]
    # When it is rotated again without a grace period (the token leaked)
    third = rotate(stack, "rotating-shop", "0")
    # Then the newest token works at once, and the older ones are refused once the caches expire
    assert stack.post("rotating-shop", third, {"email": "r2@example.com"}).status_code == 202

    def post_with(token: str) -> requests.Response:
        return stack.post("rotating-shop", token, {"email": "r3@example.com"})

    assert [status_once_caches_expire(post_with, revoked, 401) for revoked in (first, second)] == [401, 401]
    assert stack.post("rotating-shop", third, {"email": "r4@example.com"}).status_code == 202


def test_a_rotated_signing_secret_keeps_the_old_one_for_the_grace_period_only(stack: StackClient) -> None:
    # Given a source that signs its webhooks
    first = stack.add_source("rotating-members", "--auth", "standard_webhooks", "--consent-mode", "data_only")
    assert signed_post(stack, "rotating-members", first, "s0@example.com").status_code == 202
    # When the operator rotates its secret with a grace period
    second = rotate(stack, "rotating-members", "24")
    # Then requests signed with either secret are accepted
    assert signed_post(stack, "rotating-members", second, "s1@example.com").status_code == 202
    assert signed_post(stack, "rotating-members", first, "s2@example.com").status_code == 202
    # When it is rotated again without a grace period
    third = rotate(stack, "rotating-members", "0")
    # Then the newest secret's signatures are accepted at once, the older ones refused once the caches expire
    assert signed_post(stack, "rotating-members", third, "s3@example.com").status_code == 202

    def post_signed_with(secret: str) -> requests.Response:
        return signed_post(stack, "rotating-members", secret, "s4@example.com")

    assert [status_once_caches_expire(post_signed_with, revoked, 401) for revoked in (first, second)] == [
        401,
        401,
    ]


def job_row(stack: StackClient, job_id: str) -> str:
    (row,) = [
        line
        for line in run_cli("jobs", "list", "--state-dir", stack.state_dir).splitlines()
        if job_id in line
    ]
    return row


def test_a_paused_job_is_not_scheduled_until_resumed(stack: StackClient) -> None:
    # Given a daily import job
    run_cli(
        "jobs", "add", "nightly-crm", "--permission-confirmed", "--http-url", "http://127.0.0.1:9/contacts",
        "--state-dir", stack.state_dir,
    )  # fmt: skip
    assert job_row(stack, "nightly-crm").rstrip(" │|").endswith("no")
    # When the operator pauses it
    assert "paused" in run_cli("jobs", "pause", "nightly-crm", "--state-dir", stack.state_dir)
    # Then it has no next run and shows as paused
    paused = json.loads(run_cli("jobs", "show", "nightly-crm", "--state-dir", stack.state_dir))
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    assert job_row(stack, "nightly-crm").rstrip(" │|").endswith("yes")
    # When it is resumed
    output = run_cli("jobs", "resume", "nightly-crm", "--state-dir", stack.state_dir)
    # Then it is scheduled again, after now
    resumed = json.loads(run_cli("jobs", "show", "nightly-crm", "--state-dir", stack.state_dir))
    assert resumed["paused"] is False
    assert datetime.fromisoformat(resumed["next_run_at"]) > datetime.now(UTC)
    assert "next run" in output
