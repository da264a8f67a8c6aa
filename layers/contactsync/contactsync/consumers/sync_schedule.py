"""The Sync function's two triggers: the schedule tick (start what is due), and run slices from its queue."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from contactsync.domain.import_jobs import RunStatus
from contactsync.models.queue_messages import RunMessage
from contactsync.observability import logger, metrics
from contactsync.wiring import manage_import_jobs, run_import, start_due_jobs

processor = BatchProcessor(event_type=EventType.SQS)
FULL_TIMEOUT_SECONDS = 900.0


def handle_schedule_tick(event: dict[str, Any]) -> dict[str, Any]:
    tick = parse(event=event, model=EventBridgeModel)
    report = start_due_jobs().execute()
    metrics.add_metric(name="SyncJobsStarted", unit="Count", value=report.jobs_started)
    metrics.add_metric(name="ConsentsLapsed", unit="Count", value=report.consents_lapsed)
    metrics.add_metric(name="HeldMessagesQueued", unit="Count", value=report.held_messages_queued)
    logger.info("schedule tick", extra={"tick_time": tick.time.isoformat(), **asdict(report)})
    summary = {
        "tick": tick.time.isoformat(),
        "jobs_configured": report.jobs_configured,
        "jobs_started": report.jobs_started,
        "consents_lapsed": report.consents_lapsed,
    }
    if report.held_messages_queued or report.held_messages_left:  # only when the outbox held something
        summary |= {
            "held_messages_queued": report.held_messages_queued,
            "held_messages_left": report.held_messages_left,
        }
    return summary


def run_record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    """Run one slice of an import run; hand over to a new message before the timeout."""
    message = RunMessage.model_validate_json(record.body)

    def seconds_left() -> float:
        if lambda_context is None:
            return FULL_TIMEOUT_SECONDS
        return float(lambda_context.get_remaining_time_in_millis()) / 1000

    result = run_import().run_slice(message.run_id, seconds_left)
    run = result.run
    if not result.finished:
        manage_import_jobs().continue_run(message.run_id)
    if run is not None and result.finished:
        counters = run.counters
        for name, value in (
            ("ImportAdded", counters.added),
            ("ImportUpdated", counters.updated),
            ("ImportUnchanged", counters.unchanged),
            ("ImportRejected", counters.rejected),
        ):
            metrics.add_metric(name=name, unit="Count", value=value)
        if run.status is RunStatus.FAILED:
            metrics.add_metric(name="SyncRunsFailed", unit="Count", value=1)
        if run.duration is not None:  # the whole run, across its slices
            metrics.add_metric(name="SyncRunSeconds", unit="Seconds", value=run.duration.total_seconds())
        logger.info(
            "import run ended",
            extra={
                "run_id": run.run_id,
                "job_id": run.job_id,
                "status": run.status.value,
                **counters.model_dump(),
            },
        )
    return {"run_id": message.run_id, "finished": result.finished}


def handle_sync_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run slices come from the sync queue; anything else is the schedule's tick."""
    if "Records" in event:
        return dict(
            process_partial_response(
                event=event, record_handler=run_record_handler, processor=processor, context=context
            )
        )
    return handle_schedule_tick(event)
