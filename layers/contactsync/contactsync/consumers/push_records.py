"""The Push function's batch: load the batch once, deliver each change, report failures per record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from contactsync.errors import DeliveryFailed
from contactsync.models.queue_messages import PushMessage
from contactsync.observability import logger, metrics
from contactsync.use_cases.deliver_changes import DeliveryBatch
from contactsync.wiring import deliver_changes


class PushBatchProcessor(BatchProcessor):
    """A ``BatchProcessor`` that loads every contact of the batch before the first record."""

    def __init__(self) -> None:
        super().__init__(event_type=EventType.SQS)
        self.delivery: DeliveryBatch | None = None

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        changes = []
        for raw in self.records:
            try:
                changes.append(PushMessage.model_validate_json(str(raw.get("body", ""))).change)
            except ValidationError:
                continue  # reported as a failure by the record handler
        self.delivery = deliver_changes().prepare(changes)


processor = PushBatchProcessor()


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """Deliver one queued change. Raising marks this record failed: SQS retries it, then dead-letters it."""
    try:
        message = PushMessage.model_validate_json(record.body)
    except ValidationError:
        logger.error("push message is not a valid change", extra={"message_id": record.message_id})
        raise
    if processor.delivery is None:  # pragma: no cover - _prepare always ran
        raise RuntimeError("batch was not prepared")
    try:
        delivered = processor.delivery.deliver(message.change)
    except DeliveryFailed as failure:
        metrics.add_metric(name="DeliveriesFailed", unit="Count", value=1)
        logger.warning(
            "delivery failed",
            extra={
                "destination_id": failure.destination_id,
                "reason": failure.reason,
                "retryable": failure.retryable,
                "receive_count": record.attributes.approximate_receive_count,
            },
        )
        raise
    metrics.add_metric(name="ChangesDelivered", unit="Count", value=1)
    return {"contact_id": message.change.contact_id, "destinations": delivered}
