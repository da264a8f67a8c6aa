"""Queue messages with SendMessageBatch (10 a call): changes for Push, confirmation mails for Mail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from contactsync.errors import MessagesNotQueued, ServiceUnavailable
from contactsync.models.queue_messages import OptInRequest, PushMessage, RunMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from contactsync.domain.change import ContactChange

SEND_BATCH_LIMIT = 10
SEND_BATCH_BYTES = 256 * 1024
ATTEMPTS = 3


class SqsBatchSender:
    """Sends bodies in batches within SQS's limits; entries SQS refuses are sent again, then reported.

    A call that fails outright has already been retried by botocore (standard mode,
    with backoff): the queue is taken as unavailable for the rest of this send, so
    a request never waits through that backoff again for every batch. What was not
    queued is reported by position (``MessagesNotQueued``), so the caller can keep
    exactly those somewhere else and nothing is queued twice.
    """

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, bodies: Sequence[str]) -> None:
        batches: list[list[SendMessageBatchRequestEntryTypeDef]] = []
        batch: list[SendMessageBatchRequestEntryTypeDef] = []
        batch_bytes = 0
        for index, body in enumerate(bodies):
            size = len(body.encode())
            if batch and (len(batch) == SEND_BATCH_LIMIT or batch_bytes + size > SEND_BATCH_BYTES):
                batches.append(batch)
                batch, batch_bytes = [], 0
            batch.append({"Id": str(index), "MessageBody": body})
            batch_bytes += size
        if batch:
            batches.append(batch)
        unsent: list[int] = []
        for position, entries in enumerate(batches):
            try:
                unsent.extend(self._send_with_retries(entries))
            except (ClientError, BotoCoreError):
                unsent.extend(int(entry["Id"]) for later in batches[position:] for entry in later)
                break
        if unsent:
            raise MessagesNotQueued(sorted(unsent))

    def _send_with_retries(self, entries: list[SendMessageBatchRequestEntryTypeDef]) -> list[int]:
        """Positions of the entries still refused after ``ATTEMPTS`` calls; raises when a call fails."""
        pending = entries
        for _ in range(ATTEMPTS):
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=pending)
            failed_ids = {failure["Id"] for failure in response.get("Failed", [])}
            pending = [entry for entry in pending if entry["Id"] in failed_ids]
            if not pending:
                return []
        return [int(entry["Id"]) for entry in pending]


class SqsChangePublisher:
    """``ChangePublisher`` on the push queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sender = SqsBatchSender(client, queue_url)

    def publish(self, changes: Sequence[ContactChange], destination_id: str | None = None) -> None:
        """Queue changes for every destination, or one (a backfill); ``MessagesNotQueued`` names the rest."""
        self._sender.send(
            [
                PushMessage(change=change, destination_id=destination_id).model_dump_json()
                for change in changes
            ]
        )


class SqsOptInRequestPublisher:
    """``OptInRequestPublisher`` on the mail queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sender = SqsBatchSender(client, queue_url)

    def publish(self, requests: Sequence[OptInRequest]) -> None:
        """Queue confirmation mails; ``MessagesNotQueued`` names those that were not."""
        self._sender.send([request.model_dump_json() for request in requests])


class SqsRunQueue:
    """``RunQueue``: one message per run slice; the Sync function consumes them."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, run_id: str) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url, MessageBody=RunMessage(run_id=run_id).model_dump_json()
            )
        except (ClientError, BotoCoreError) as error:
            raise ServiceUnavailable("the run could not be queued") from error
