"""The Push function's batch: deliver the whole batch first, then settle each record by its verdict.

Delivered records are deleted; a retryable failure comes back after a backoff
with jitter (at least the destination's Retry-After); a failure that will never
succeed goes to the dead-letter queue at once, with its reason.
"""

from __future__ import annotations

import random
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from contactsync.domain.retry_schedule import retry_delay_seconds
from contactsync.models.queue_messages import PushMessage
from contactsync.observability import logger, metrics
from contactsync.settings import get_settings
from contactsync.use_cases.deliver_changes import BatchReport, Verdict
from contactsync.wiring import deliver_changes, push_dead_letters, push_retry_delay


class RetryLater(Exception):
    """Marks a record failed so SQS hands it back after the chosen delay."""


class PushBatchProcessor(BatchProcessor):
    """A ``BatchProcessor`` that delivers every change of the batch before settling the records."""

    def __init__(self) -> None:
        super().__init__(event_type=EventType.SQS)
        self.report: BatchReport | None = None

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        messages: dict[str, PushMessage] = {}
        for raw in self.records:
            try:
                messages[str(raw["messageId"])] = PushMessage.model_validate_json(str(raw.get("body", "")))
            except ValidationError:
                continue  # settled by the record handler
        self.report = deliver_changes().deliver(messages) if messages else None
        if self.report is not None:
            metrics.add_metric(name="PushesSent", unit="Count", value=self.report.sent)
            metrics.add_metric(name="PushesSkippedUnchanged", unit="Count", value=self.report.skipped)


processor = PushBatchProcessor()


def backoff_seconds(receive_count: int, retry_after: float | None) -> float:
    """The retry schedule from the settings' base, with this attempt's jitter."""
    return retry_delay_seconds(
        receive_count,
        retry_after,
        base_seconds=get_settings().push_retry_base_seconds,
        jitter=random.random(),  # noqa: S311 - jitter, not security
    )


def record_handler(record: SQSRecord) -> dict[str, Any]:
    report = processor.report
    if report is None or record.message_id not in report.verdicts:  # _prepare could not read it
        push_dead_letters().send(record.body, "not a contact change message")
        metrics.add_metric(name="PushesDeadLettered", unit="Count", value=1)
        logger.error("push message is not a change; dead-lettered", extra={"message_id": record.message_id})
        return {"dead_lettered": True}
    verdict = report.verdicts[record.message_id]
    if verdict.verdict is Verdict.DELIVERED:
        return {"delivered": True}
    reasons = "; ".join(verdict.reasons)
    if verdict.verdict is Verdict.DEAD:
        push_dead_letters().send(record.body, reasons)
        metrics.add_metric(name="PushesDeadLettered", unit="Count", value=1)
        logger.warning("push dead-lettered", extra={"message_id": record.message_id, "reasons": reasons})
        return {"dead_lettered": True}
    receive_count = int(record.attributes.approximate_receive_count or 1)
    delay = backoff_seconds(receive_count, verdict.retry_after_seconds)
    push_retry_delay().delay(record.receipt_handle, delay)
    metrics.add_metric(name="PushesRetried", unit="Count", value=1)
    logger.warning(
        "push will be retried",
        extra={"message_id": record.message_id, "reasons": reasons, "delay_seconds": round(delay, 1)},
    )
    raise RetryLater(reasons)
