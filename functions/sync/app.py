"""Sync: the schedule starts the import jobs that are due; the sync queue runs them a slice at a time."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from contactsync.consumers.sync_schedule import handle_sync_event
from contactsync.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_sync_event(event, context)
