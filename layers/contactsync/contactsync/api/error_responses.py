"""The one place where exceptions become HTTP responses with a JSON error body."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError

from contactsync.errors import ClientError, ContactsyncError, ServiceUnavailable, ValidationFailed
from contactsync.models.webhook import ErrorBody, FieldError
from contactsync.observability import logger


def error_response(status: HTTPStatus, body: ErrorBody) -> Response[str]:
    headers: dict[str, str | list[str]] = {}
    if status in {HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.CONFLICT}:
        headers["Retry-After"] = "5"
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
        headers=headers,
    )


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map the product's typed exceptions (and anything unexpected) to JSON responses."""

    def request_id() -> str | None:
        return app.current_event.request_context.request_id

    @app.exception_handler(ValidationFailed)
    def on_validation(error: ValidationFailed) -> Response[str]:
        return error_response(
            error.status,
            ErrorBody(
                error=error.code,
                message=error.message,
                request_id=request_id(),
                errors=[FieldError(path=problem.path, message=problem.message) for problem in error.problems],
            ),
        )

    def on_product_error(error: ContactsyncError) -> Response[str]:
        if isinstance(error, ClientError):
            logger.info("request refused", extra={"error_code": error.code, "status": error.status.value})
            message = error.message
        else:
            logger.warning("request failed", extra={"error_code": error.code})
            message = error.public_message
        return error_response(
            error.status, ErrorBody(error=error.code, message=message, request_id=request_id())
        )

    app.exception_handler(ContactsyncError)(on_product_error)

    @app.exception_handler(IdempotencyPersistenceLayerError)
    def on_idempotency_store_failure(_: IdempotencyPersistenceLayerError) -> Response[str]:
        # The idempotency table failed past botocore's retries (throttled or down): the request may
        # or may not have been applied, and a retry with the same key is the way to find out.
        return on_product_error(ServiceUnavailable("the idempotency store is unavailable"))

    @app.exception_handler(RequestValidationError)
    def on_request_validation(error: RequestValidationError) -> Response[str]:
        problems = [
            FieldError(
                path=".".join(str(part) for part in issue.get("loc", ())[1:]) or "request",
                message=issue["msg"],
            )
            for issue in error.errors()
        ]
        if all(issue.get("loc", ("",))[0] == "path" for issue in error.errors()):
            # A path that cannot name anything is simply not there.
            return error_response(
                HTTPStatus.NOT_FOUND,
                ErrorBody(error="not_found", message="No such resource.", request_id=request_id()),
            )
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            ErrorBody(
                error="validation_failed",
                message="Some fields are invalid.",
                request_id=request_id(),
                errors=problems,
            ),
        )

    @app.not_found
    def on_not_found(_: NotFoundError) -> Response[str]:
        return error_response(
            HTTPStatus.NOT_FOUND,
            ErrorBody(error="not_found", message="No such route.", request_id=request_id()),
        )

    @app.exception_handler(Exception)
    def on_unexpected(error: Exception) -> Response[str]:
        logger.exception("unexpected error", extra={"error_type": type(error).__name__})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            ErrorBody(
                error="internal_error", message="Something went wrong on our side.", request_id=request_id()
            ),
        )
