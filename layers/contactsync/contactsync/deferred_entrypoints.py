"""Entry points that import their routes or record handlers on the first event.

A handler module is imported on every cold start before Lambda hands it an event.
Keeping that import to Powertools' logger and metrics means the routes, the use
cases and their validators (pydantic models, email-validator, phonenumbers) load
when the first event needs them, and only the parts that event needs. ``make bench``
reports both figures: the handler's import, and its import with everything loaded.
"""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from types import ModuleType

    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext


class DeferredModule:
    """A module of the package, imported the first time it is used."""

    def __init__(self, name: str) -> None:
        self.name = name

    @cached_property
    def module(self) -> ModuleType:
        return importlib.import_module(self.name)

    def load(self) -> None:
        """Import now (the bench measures a fully loaded handler this way)."""
        _ = self.module


class DeferredResolver(DeferredModule):
    """A module whose ``app`` is a Powertools REST resolver; imported on the first request."""

    def resolve(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        app = cast("APIGatewayRestResolver", self.module.app)
        return app.resolve(event, context)


class DeferredBatchConsumer(DeferredModule):
    """A module with an SQS ``processor`` and ``record_handler``; imported on the first batch."""

    def process_batch(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        return process_partial_response(
            event=event,
            record_handler=self.module.record_handler,
            processor=self.module.processor,
            context=context,
        )


class DeferredEventHandler(DeferredModule):
    """A module with a ``function(event, context)``; imported on the first event."""

    def __init__(self, name: str, function: str) -> None:
        super().__init__(name)
        self.function = function

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return cast(dict[str, Any], getattr(self.module, self.function)(event, context))
