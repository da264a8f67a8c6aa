"""Routes of the Ingest function: ``POST /v1/sources/{source_id}/contacts``."""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from contactsync.api.error_responses import register_error_handlers
from contactsync.api.request_bodies import body_text, media_type, parse_document, parse_submissions
from contactsync.domain.source import SOURCE_ID_PATTERN
from contactsync.errors import IdempotencyKeyReused, PayloadTooLarge, RequestInProgress, UnsupportedMediaType
from contactsync.models.webhook import ContactResult, ContactSubmission, ErrorBody, FieldError, IngestResponse
from contactsync.observability import logger, metrics
from contactsync.settings import get_settings
from contactsync.use_cases.ingest_contacts import InboundRequest, IngestOutcome
from contactsync.wiring import idempotency_config, idempotent_ingest, ingest_contacts

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)

ACCEPTED_MEDIA_TYPES = ("application/json", "application/x-www-form-urlencoded")
ERROR_RESPONSES: dict[int, Any] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
    }
    for status, description in {
        400: "Malformed body",
        401: "Missing or invalid credentials",
        404: "Unknown or disabled source",
        409: "The same idempotency key is still being processed",
        413: "Body larger than 256 KB",
        415: "Not JSON or form-encoded",
        422: "Invalid content, with field paths",
        429: "Over the source's rate limit",
        503: "Temporarily unavailable; retry",
    }.items()
}


# The source decides how it authenticates, so the route names both schemes; their definitions are
# documentation only and live with the document (ops' openapi_document): the models that describe
# them cost a cold start about 50 ms to import.
SECURITY: list[dict[str, list[str]]] = [{"bearerToken": []}, {"standardWebhooks": []}]


def documented_request(max_batch_contacts: int) -> dict[str, Any]:
    """The ingest operation's request body and optional headers, as the OpenAPI document shows them."""
    contact = ContactSubmission.model_json_schema()
    batch = {
        "type": "object",
        "properties": {
            "contacts": {"type": "array", "items": contact, "minItems": 1, "maxItems": max_batch_contacts}
        },
        "required": ["contacts"],
    }
    headers = {
        "Idempotency-Key": "The same key within 24 hours returns the first response and writes nothing",
        "webhook-id": "Standard Webhooks message id (also the idempotency key)",
        "webhook-timestamp": "Standard Webhooks: Unix seconds, within 5 minutes of now",
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"anyOf": [contact, batch]}},
                "application/x-www-form-urlencoded": {"schema": contact},
            },
        },
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in headers.items()
        ],
    }


@app.post(
    "/v1/sources/<source_id>/contacts",
    summary="Push one contact or a batch of up to 1,000 from a source",
    description=(
        "JSON or form-encoded. Authenticate with Standard Webhooks headers (webhook-id, webhook-timestamp, "
        "webhook-signature) or `Authorization: Bearer <token>`, as the source is configured. The same "
        "webhook-id or Idempotency-Key within 24 hours returns the first response and writes nothing."
    ),
    responses={
        202: {
            "description": "Accepted; one result per contact, in order",
            "content": {"application/json": {"schema": IngestResponse.model_json_schema()}},
        },
        **ERROR_RESPONSES,
    },
    security=SECURITY,
    tags=["ingest"],
)
def post_contacts(source_id: Annotated[str, Path(pattern=SOURCE_ID_PATTERN)]) -> Response[str]:
    settings = get_settings()
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    body = body_text(event)
    if len(body.encode()) > settings.max_body_bytes:
        raise PayloadTooLarge(f"The body is larger than {settings.max_body_bytes} bytes.")
    if media_type(headers.get("content-type")) not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType
    request = InboundRequest(
        source_id=source_id,
        headers=headers,
        raw_body=body,
        client_ip=event.request_context.identity.source_ip,
        user_agent=headers.get("user-agent"),
    )
    use_case = ingest_contacts()
    source = use_case.authenticate(request)
    payloads = parse_submissions(
        parse_document(body, headers.get("content-type"), settings.max_body_bytes),
        settings.max_batch_contacts,
    )

    def work() -> dict[str, Any]:
        outcome = use_case.execute(source, payloads, request)
        record_metrics(outcome)
        return to_response(outcome, event.request_context.request_id).model_dump(mode="json")

    idempotency_key = headers.get("webhook-id") or headers.get("idempotency-key")
    if idempotency_key:
        idempotency_config().register_lambda_context(app.lambda_context)
        try:
            result = idempotent_ingest()(
                request={
                    "key": f"{source_id}:{idempotency_key[:200]}",
                    "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
                },
                work=work,
            )
        except IdempotencyAlreadyInProgressError:
            raise RequestInProgress from None
        except IdempotencyValidationError:
            raise IdempotencyKeyReused from None
    else:
        result = work()
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type=content_types.APPLICATION_JSON,
        body=IngestResponse.model_validate(result).model_dump_json(),
    )


def to_response(outcome: IngestOutcome, request_id: str) -> IngestResponse:
    results = [
        ContactResult(
            index=item.index,
            status="accepted" if item.accepted else "rejected",
            contact_id=item.contact_id,
            errors=[FieldError(path=problem.path, message=problem.message) for problem in item.problems],
        )
        for item in outcome.outcomes
    ]
    accepted = sum(1 for item in outcome.outcomes if item.accepted)
    return IngestResponse(
        request_id=request_id, accepted=accepted, rejected=len(results) - accepted, results=results
    )


def record_metrics(outcome: IngestOutcome) -> None:
    accepted = sum(1 for item in outcome.outcomes if item.accepted)
    rejected = len(outcome.outcomes) - accepted
    metrics.add_metric(name="ContactsAccepted", unit="Count", value=accepted)
    metrics.add_metric(name="ContactsRejected", unit="Count", value=rejected)
    metrics.add_metric(name="OptInsRequested", unit="Count", value=len(outcome.opt_in_requests))
    logger.info(
        "contacts ingested",
        extra={"accepted": accepted, "rejected": rejected, "changes": len(outcome.changes)},
    )
