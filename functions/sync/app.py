"""Sync: the schedule starts the import jobs that are due; the sync queue runs them a slice at a time."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from contactsync.deferred_entrypoints import DeferredEventHandler
from contactsync.observability import logger, metrics

sync_events = DeferredEventHandler("contactsync.consumers.sync_schedule", "handle_sync_event")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sync_events.handle(event, context)
