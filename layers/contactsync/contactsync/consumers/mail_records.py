"""The Mail function's batch: send each queued confirmation mail once, report failures per record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from contactsync.models.queue_messages import OptInRequest
from contactsync.observability import logger, metrics
from contactsync.use_cases.send_confirmations import request_ref
from contactsync.wiring import idempotent_mail, mail_idempotency_config, send_confirmation

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    """Raising marks the record failed: SQS retries it, then dead-letters it."""
    if lambda_context is not None:
        mail_idempotency_config().register_lambda_context(lambda_context)
    request = OptInRequest.model_validate_json(record.body)
    use_case = send_confirmation()
    result: dict[str, Any] = idempotent_mail()(
        request={"ref": f"{request_ref(request)}:{request.requested_at.isoformat()}"},
        work=lambda: use_case.execute(request),
    )
    sent = result.get("message_id") is not None
    metrics.add_metric(
        name="ConfirmationMailsSent" if sent else "ConfirmationMailsSkipped", unit="Count", value=1
    )
    logger.info("confirmation mail", extra={"sent": sent, "kind": request.kind.value})
    return result
