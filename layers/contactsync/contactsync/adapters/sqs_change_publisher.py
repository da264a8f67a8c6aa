"""Queue contact changes for the Push function with SendMessageBatch (10 a call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from contactsync.errors import ServiceUnavailable
from contactsync.models.queue_messages import PushMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from contactsync.domain.change import ContactChange

SEND_BATCH_LIMIT = 10
ATTEMPTS = 3


class SqsChangePublisher:
    """``ChangePublisher`` on an SQS queue. Failed entries are retried, then reported."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def publish(self, changes: Sequence[ContactChange]) -> None:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": PushMessage(change=change).model_dump_json()}
            for index, change in enumerate(changes)
        ]
        for start in range(0, len(entries), SEND_BATCH_LIMIT):
            self._send_with_retries(entries[start : start + SEND_BATCH_LIMIT])

    def _send_with_retries(self, entries: list[SendMessageBatchRequestEntryTypeDef]) -> None:
        pending = entries
        for _ in range(ATTEMPTS):
            try:
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=pending)
            except (ClientError, BotoCoreError):
                continue
            failed_ids = {failure["Id"] for failure in response.get("Failed", [])}
            pending = [entry for entry in pending if entry["Id"] in failed_ids]
            if not pending:
                return
        raise ServiceUnavailable(f"{len(pending)} change(s) could not be queued for delivery")
