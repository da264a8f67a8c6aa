"""Routes of the Ingest function: ``POST /v1/sources/{source_id}/contacts``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path

from contactsync.api.error_responses import register_error_handlers
from contactsync.api.request_bodies import parse_document, parse_submissions
from contactsync.domain.source import SOURCE_ID_PATTERN
from contactsync.errors import AuthenticationFailed
from contactsync.models.webhook import ContactResult, FieldError, IngestResponse
from contactsync.observability import logger, metrics
from contactsync.settings import get_settings
from contactsync.wiring import ingest_contacts

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@app.post(
    "/v1/sources/<source_id>/contacts",
    summary="Push one contact or a batch from a source",
    responses={202: {"description": "Accepted; one result per contact"}},
    tags=["ingest"],
)
def post_contacts(source_id: Annotated[str, Path(pattern=SOURCE_ID_PATTERN)]) -> Response[str]:
    settings = get_settings()
    event = app.current_event
    use_case = ingest_contacts()
    token = bearer_token(event.headers.get("authorization") or event.headers.get("Authorization"))
    if token is None:
        # Look the source up first so unknown sources answer 404 whatever the credentials.
        use_case.authenticate(source_id, None)
        raise AuthenticationFailed
    source = use_case.authenticate(source_id, token)
    content_type = event.headers.get("content-type") or event.headers.get("Content-Type")
    document = parse_document(event.decoded_body, content_type, settings.max_body_bytes)
    submissions = parse_submissions(document, settings.max_batch_contacts)
    outcome = use_case.execute(source, submissions)

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
    metrics.add_metric(name="ContactsAccepted", unit="Count", value=accepted)
    metrics.add_metric(name="ContactsRejected", unit="Count", value=len(results) - accepted)
    logger.info("contacts ingested", extra={"accepted": accepted, "rejected": len(results) - accepted})
    body = IngestResponse(
        request_id=event.request_context.request_id,
        accepted=accepted,
        rejected=len(results) - accepted,
        results=results,
    )
    return Response(
        status_code=HTTPStatus.ACCEPTED.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(),
    )
