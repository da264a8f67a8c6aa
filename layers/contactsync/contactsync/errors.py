"""Typed exceptions of the product.

Each carries the HTTP status and the stable error code it maps to; the API
layer turns them into responses in one place (``contactsync.api.error_responses``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contactsync.domain.contact import Contact


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: where it is and what is wrong, never its value."""

    path: str
    message: str


class ContactsyncError(Exception):
    """Base of every error the product raises on purpose."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal_error"
    public_message: str = "Something went wrong on our side."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message


class ConfigurationError(ContactsyncError):
    """The deployment is missing something it needs (never caused by a client)."""

    code = "configuration_error"


class ClientError(ContactsyncError):
    """The request cannot be served as sent; the message is safe to show to the caller."""

    status = HTTPStatus.BAD_REQUEST
    code = "bad_request"
    public_message = "The request is malformed."


class MalformedBody(ClientError):
    code = "malformed_body"
    public_message = "The body could not be parsed."


class PayloadTooLarge(ClientError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"
    public_message = "The body is larger than this endpoint accepts."


class UnsupportedMediaType(ClientError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"
    public_message = "Send application/json or application/x-www-form-urlencoded."


class AuthenticationFailed(ClientError):
    """Credentials are missing or wrong. The message never says which part failed."""

    status = HTTPStatus.UNAUTHORIZED
    code = "unauthorized"
    public_message = "Missing or invalid credentials."


class SourceNotFound(ClientError):
    status = HTTPStatus.NOT_FOUND
    code = "source_not_found"
    public_message = "No active source has this id."


class ValidationFailed(ClientError):
    """The body parsed but its content is invalid; carries field paths."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "validation_failed"
    public_message = "Some fields are invalid."

    def __init__(self, problems: list[FieldProblem], message: str | None = None) -> None:
        super().__init__(message)
        self.problems = problems


class RateLimited(ClientError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "rate_limited"
    public_message = "Too many requests; retry later."


class ServiceUnavailable(ContactsyncError):
    """A dependency (DynamoDB, SQS) refused or failed; the caller should retry."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "service_unavailable"
    public_message = "Temporarily unavailable; retry later."


class DependencyThrottled(ServiceUnavailable):
    """A dependency throttled us past the SDK's own retries; the caller should slow down and retry."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "throttled"
    public_message = "Too many requests right now; retry later."


class MessagesNotQueued(ServiceUnavailable):
    """Some messages of a publish were not queued (the others were); says which, by their position."""

    def __init__(self, unsent_indexes: list[int], message: str | None = None) -> None:
        super().__init__(message or f"{len(unsent_indexes)} message(s) could not be queued")
        self.unsent_indexes = unsent_indexes


class WritesInterrupted(ServiceUnavailable):
    """A batched write failed part way: ``written`` were stored before ``cause`` stopped the rest.

    The caller must finish what the stored part needs (queue its changes) before
    it lets ``cause`` answer the request. Uncaught, it answers as its cause would.
    """

    def __init__(self, written: list[Contact], cause: ServiceUnavailable) -> None:
        super().__init__(cause.message)
        self.written = written
        self.cause = cause
        self.status = cause.status
        self.code = cause.code
        self.public_message = cause.public_message


@dataclass
class DeliveryFailed(ContactsyncError):
    """A destination did not take a change. ``retryable`` decides retry or dead-letter."""

    destination_id: str
    reason: str
    retryable: bool = True
    retry_after_seconds: float | None = field(default=None)

    def __post_init__(self) -> None:
        super().__init__(f"delivery to {self.destination_id} failed: {self.reason}")


class RequestInProgress(ClientError):
    """The same idempotency key is being processed right now."""

    status = HTTPStatus.CONFLICT
    code = "request_in_progress"
    public_message = "A request with this idempotency key is still being processed; retry shortly."


class IdempotencyKeyReused(ClientError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "idempotency_key_reused"
    public_message = "This idempotency key was already used with a different body."
