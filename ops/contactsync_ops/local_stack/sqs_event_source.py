"""The SQS event source mapping, as Lambda runs it: poll, batch, invoke, delete what succeeded.

A batch is gathered until BatchSize messages or MaximumBatchingWindowInSeconds after its
first message. With ReportBatchItemFailures only the records named in batchItemFailures are
kept; an invalid response, an error or a timeout keeps the whole batch. Kept messages come
back after the queue's visibility timeout, and SQS (moto) moves them to the dead-letter queue
once they have been received maxReceiveCount times.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from contactsync_ops.local_stack.template_model import DEFAULT_REGION

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from contactsync_ops.local_stack.lambda_runtime import InvocationResult, LambdaRuntime
    from contactsync_ops.local_stack.template_model import SqsEvent

logger = logging.getLogger(__name__)

MAX_RECEIVE = 10


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """SQS message attributes in the shape Lambda puts in an SQS record."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        record: dict[str, Any] = {}
        if "StringValue" in value:
            record["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            record["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        record["stringListValues"] = list(value.get("StringListValues", []))
        record["binaryListValues"] = [
            base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues", [])
        ]
        record["dataType"] = value["DataType"]
        converted[name] = record
    return converted


def build_sqs_record(
    message: MessageTypeDef, *, queue_arn: str, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """One record of the SQS event Lambda builds from a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": lambda_message_attributes(dict(message.get("MessageAttributes", {}))),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def build_sqs_event(
    messages: Sequence[MessageTypeDef], *, queue_arn: str, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """The event an SQS-triggered function receives for one batch."""
    return {"Records": [build_sqs_record(m, queue_arn=queue_arn, region=region) for m in messages]}


@dataclass(frozen=True)
class BatchOutcome:
    """What happened to one batch: message ids deleted, and kept for a retry."""

    deleted: tuple[str, ...]
    kept: tuple[str, ...]
    reason: str = ""


def settle_batch(
    message_ids: Sequence[str], result: InvocationResult, *, reports_batch_item_failures: bool
) -> BatchOutcome:
    """Decide, as Lambda does, which messages of a batch are done (deleted) and which are kept."""
    everything = tuple(message_ids)
    if result.error is not None:
        return BatchOutcome((), everything, f"{result.error.error_type}: {result.error.error_message}")
    if not reports_batch_item_failures:
        return BatchOutcome(everything, ())
    payload = result.payload
    if payload is None or payload == {}:
        return BatchOutcome(everything, ())
    if not isinstance(payload, dict):
        return BatchOutcome((), everything, f"invalid response (not an object): {payload!r:.200}")
    failures = payload.get("batchItemFailures")
    if failures is None or failures == []:
        return BatchOutcome(everything, ())
    if not isinstance(failures, list):
        return BatchOutcome((), everything, "invalid response: batchItemFailures is not a list")
    failed: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return BatchOutcome((), everything, f"invalid batchItemFailures entry {failure!r:.200}")
        failed.append(identifier)
    kept = tuple(m for m in everything if m in failed)
    return BatchOutcome(
        tuple(m for m in everything if m not in failed), kept, "reported in batchItemFailures"
    )


class SqsEventSourceMapping:
    """Polls one queue for one function in a background thread until stopped."""

    def __init__(
        self,
        function_logical_id: str,
        event: SqsEvent,
        *,
        queue_url: str,
        queue_arn: str,
        runtime: LambdaRuntime,
        sqs_client: SQSClient,
        region: str = DEFAULT_REGION,
        batching_window_seconds: float | None = None,
    ) -> None:
        self.function_logical_id = function_logical_id
        self.event = event
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.runtime = runtime
        self.client = sqs_client
        self.region = region
        self.batching_window_seconds = (
            float(event.batching_window_seconds)
            if batching_window_seconds is None
            else batching_window_seconds
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-{self.function_logical_id}-{self.event.event_id}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop after its current long poll or batch, without waiting."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop polling; a batch being handled is finished first (up to the function timeout)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError) as error:
                if self._stopping.is_set():
                    return
                logger.warning("polling %s failed (%s); retrying", self.queue_url, error)
                self._stopping.wait(1)
            except Exception:
                logger.exception("the %s event source mapping failed; retrying", self.function_logical_id)
                self._stopping.wait(1)

    def gather_batch(self) -> list[MessageTypeDef]:
        """Receive until BatchSize or the batching window after the first message (long polls of 1 s)."""
        batch: dict[str, MessageTypeDef] = {}
        first_at: float | None = None
        while not self._stopping.is_set():
            wait_seconds = 1
            if first_at is not None:
                remaining = self.batching_window_seconds - (time.monotonic() - first_at)
                if remaining <= 0:
                    break
                wait_seconds = 1 if remaining >= 1 else 0
            messages = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_RECEIVE, self.event.batch_size - len(batch)),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in messages:
                batch[message["MessageId"]] = message  # a redelivery replaces the stale receipt
            if messages and first_at is None:
                first_at = time.monotonic()
            if len(batch) >= self.event.batch_size or (batch and self.batching_window_seconds <= 0):
                break
            if not messages and wait_seconds == 0:
                time.sleep(0.05)
            if first_at is None and not batch:
                return []
        return list(batch.values())

    def poll_once(self) -> BatchOutcome | None:
        """Gather one batch, invoke the function, delete what succeeded. None if the queue was empty."""
        messages = self.gather_batch()
        if not messages:
            return None
        event = build_sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
        result = self.runtime.invoke(self.function_logical_id, event)
        outcome = settle_batch(
            [m["MessageId"] for m in messages], result,
            reports_batch_item_failures=self.event.reports_batch_item_failures,
        )  # fmt: skip
        receipts = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        self._delete([(message_id, receipts[message_id]) for message_id in outcome.deleted])
        if outcome.kept:
            log = logger.error if result.error is not None else logger.warning
            log(
                "%s: %d of %d messages kept for a retry (%s)",
                self.function_logical_id,
                len(outcome.kept),
                len(messages),
                outcome.reason,
            )
        else:
            logger.info(
                "%s: batch of %d messages done (%.0f ms)",
                self.function_logical_id,
                len(messages),
                result.duration_ms,
            )
        return outcome

    def _delete(self, entries: list[tuple[str, str]]) -> None:
        for start in range(0, len(entries), MAX_RECEIVE):
            chunk = entries[start : start + MAX_RECEIVE]
            response = self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": receipt} for i, (_, receipt) in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                logger.warning(
                    "could not delete message %s: %s", chunk[int(failure["Id"])][0], failure.get("Message")
                )
