"""The push queue's own controls: park a hopeless message in the DLQ with its reason, delay a retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_VISIBILITY_SECONDS = 12 * 3600


class SqsDeadLetters:
    """``DeadLetters``: the message goes to the DLQ at once, its reason as a message attribute."""

    def __init__(self, client: SQSClient, dead_letter_queue_url: str) -> None:
        self._client = client
        self._url = dead_letter_queue_url

    def send(self, message_body: str, reason: str) -> None:
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=message_body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"}},
        )


class SqsRetryDelay:
    """Makes a failed message reappear after a chosen delay instead of the queue's fixed timeout."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def delay(self, receipt_handle: str, seconds: float) -> None:
        self._client.change_message_visibility(
            QueueUrl=self._url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(MAX_VISIBILITY_SECONDS, int(seconds))),
        )


class DeadLetter(BaseModel):
    message_id: str
    body: str
    reason: str
    receive_count: int
    sent_at: datetime | None


class DeadLetterQueue:
    """What an operator does with a dead-letter queue: look at it, and send it all back for another try."""

    def __init__(self, client: SQSClient, dead_letter_queue_url: str) -> None:
        self._client = client
        self._url = dead_letter_queue_url

    def peek(self, limit: int = 50) -> list[DeadLetter]:
        """Messages without removing them (they reappear after a short visibility timeout)."""
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        while len(seen) < limit:
            messages = self._client.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(10, limit - len(seen)),
                VisibilityTimeout=5,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                handles.append(message["ReceiptHandle"])
                attributes = message.get("Attributes", {})
                sent = attributes.get("SentTimestamp")
                reason_attribute = message.get("MessageAttributes", {}).get("reason")
                reason = reason_attribute.get("StringValue") if reason_attribute else None
                seen[message["MessageId"]] = DeadLetter(
                    message_id=message["MessageId"],
                    body=message["Body"],
                    reason=reason or "retries exhausted (maxReceiveCount)",
                    receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
                    sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
                )
        for start in range(0, len(handles), 10):  # visible again at once: looking is not taking
            self._client.change_message_visibility_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for n, handle in enumerate(handles[start : start + 10])
                ],
            )
        return list(seen.values())

    def redrive(self, target_queue_url: str) -> int:
        """Move every message back to the queue it came from; returns how many moved."""
        moved = 0
        while True:
            messages = self._client.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                return moved
            self._client.send_message_batch(
                QueueUrl=target_queue_url,
                Entries=[{"Id": str(n), "MessageBody": m["Body"]} for n, m in enumerate(messages)],
            )
            self._client.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
            moved += len(messages)
