"""Operators see and redrive every dead-letter queue with the CLI: push, mail and sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from contactsync.models.queue_messages import OptInKind, OptInRequest, RunMessage
from tests.e2e.stack_client import StackClient, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


def park(stack: StackClient, queue_url: str, body: str, reason: str) -> None:
    """What SQS does after maxReceiveCount: the message sits in the dead-letter queue."""
    stack.target.sqs().send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason}},
    )


@pytest.mark.parametrize("queue", ["mail", "sync"])
def test_a_dead_lettered_message_is_listed_without_personal_data_and_redriven_to_its_queue(
    stack: StackClient, queue: str
) -> None:
    # Given a confirmation mail or an import run slice that failed all its retries
    target = stack.target
    dead_letter_url, queue_url = target.dead_letter_queues(queue)
    body = (
        OptInRequest(
            contact_id="c-0000dead",
            contact_version=3,
            kind=OptInKind.SUBSCRIPTION,
            source_id="shop",
            requested_at=datetime.now(UTC),
        ).model_dump_json()
        if queue == "mail"
        else RunMessage(run_id="run-0000dead").model_dump_json()
    )
    park(stack, dead_letter_url, body, f"{queue} failed five times")

    # When the operator lists that queue's dead letters
    listing = run_cli("dlq", "list", "--queue", queue, "--state-dir", stack.state_dir)

    # Then they see what it was about (ids only) and why
    assert "1 message(s) in the " + queue + " dead-letter queue" in listing
    assert ("contact c-0000dead v3" if queue == "mail" else "import run run-0000dead") in listing
    assert f"{queue} failed five times" in listing

    # When they redrive it, it goes back to its own queue, and the function takes it
    assert f"1 message(s) sent back to the {queue} queue" in run_cli(
        "dlq", "redrive", "--queue", queue, "--state-dir", stack.state_dir
    )
    stack.wait_for_queue_empty(queue_url)
    assert "0 message(s)" in run_cli("dlq", "list", "--queue", queue, "--state-dir", stack.state_dir)
