"""What the end-to-end tests do as an operator and as a sending tool: CLI calls, webhook posts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.domain.contact import Contact
from contactsync_ops.stack_target import StackTarget, local_target


def run_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "contactsync_ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # wide enough that tables are not cut
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class StackClient:
    def __init__(self, local_stack: Any) -> None:
        self.api_url: str = local_stack.api_url
        self.state_dir = str(local_stack.state_dir)
        self.target: StackTarget = local_target(Path(local_stack.state_dir))

    def add_source(self, source_id: str, *options: str) -> str:
        """Register a source with the CLI; returns its credential (token or signing secret)."""
        output = run_cli("sources", "add", source_id, *options, "--state-dir", self.state_dir)
        match = re.search(r"(?:Bearer token|Signing secret): (\S+)", output)
        assert match, output
        return match.group(1)

    def post(self, source_id: str, token: str, payload: Any, **headers: str) -> requests.Response:
        return requests.post(
            f"{self.api_url}/v1/sources/{source_id}/contacts",
            json=payload,
            headers={"Authorization": f"Bearer {token}", **headers},
            timeout=60,
        )

    def post_signed(
        self, source_id: str, secret: str, body: str, msg_id: str, at: datetime | None = None
    ) -> requests.Response:
        """Post a raw body signed the Standard Webhooks way, as a signing source does."""
        at = at or datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        }
        return requests.post(
            f"{self.api_url}/v1/sources/{source_id}/contacts", data=body, headers=headers, timeout=30
        )

    def contact(self, email: str) -> Contact | None:
        repository = DynamoContactRepository(self.target.dynamodb(), self.target.contacts_table)
        return repository.find_by_identity(f"EMAIL#{email.lower()}")

    def wait_for_queue_empty(self, queue_url: str, timeout: float = 30.0) -> None:
        """Until no message is visible or in flight (the consumer has done its work)."""
        sqs = self.target.sqs()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if (
                attributes["ApproximateNumberOfMessages"] == "0"
                and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
            ):
                time.sleep(0.5)  # the consumer deletes before it has finished writing files
                return
            time.sleep(0.2)
        raise AssertionError(f"queue {queue_url} still busy after {timeout}s")

    def drain(self, queue_url: str) -> list[str]:
        """Every body currently on a queue (received and deleted)."""
        sqs = self.target.sqs()
        bodies: list[str] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
