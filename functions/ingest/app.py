"""Ingest: webhooks from sources push contacts in."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from contactsync.deferred_entrypoints import DeferredResolver
from contactsync.observability import logger, metrics

app = DeferredResolver("contactsync.api.ingest_routes")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
