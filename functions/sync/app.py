"""Sync: on each schedule tick, start the recurring import jobs that are due."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from contactsync.consumers.sync_schedule import handle_schedule_tick
from contactsync.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_schedule_tick(event)
