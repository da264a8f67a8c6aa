"""Push: deliver contact changes from the push queue to destinations, reporting partial failures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contactsync.deferred_entrypoints import DeferredBatchConsumer
from contactsync.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

push_records = DeferredBatchConsumer("contactsync.consumers.push_records")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return push_records.process_batch(event, context)
