"""Routes of the OptIn function: the confirmation and unsubscribe pages people open from their mail.

GET only shows a page with a button, so mail scanners that prefetch links
change nothing; the button POSTs back to the same URL.
"""

from __future__ import annotations

from dataclasses import replace
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path

from contactsync.api.error_responses import register_error_handlers
from contactsync.api.request_bodies import body_text
from contactsync.domain.opt_in_tokens import TOKEN_PATTERN
from contactsync.errors import MalformedBody
from contactsync.models.webhook import ErrorBody
from contactsync.observability import logger, metrics
from contactsync.pages import render_link_page
from contactsync.use_cases.subscription_links import LinkOutcome, LinkPage, Visitor
from contactsync.wiring import subscription_links
from contactsync.wording import SUPPORTED_LANGUAGES

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}
PAGE_STATUS = {
    LinkPage.INVALID: HTTPStatus.NOT_FOUND,
}
_HTML = {"text/html": {"schema": {"type": "string"}}}
PAGE_RESPONSES: dict[int, Any] = {
    200: {"description": "The page, in the link's or the browser's language", "content": _HTML},
    303: {
        "description": "Confirmed: on to the source's allow-listed thank-you page",
        "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
    },
    404: {"description": "Unknown, used, expired or malformed link: the same page for all", "content": _HTML},
    503: {
        "description": "Temporarily unavailable; try again",
        "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
    },
}
FORM_BODY = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string", "enum": ["confirm", "resend", "unsubscribe"]},
                        "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]},
                    },
                }
            }
        }
    }
}
WITH_FORM = {LinkPage.CONFIRM, LinkPage.CONFIRM_CHANGE, LinkPage.UNSUBSCRIBE, LinkPage.INVALID}
TokenPath = Annotated[str, Path(pattern=TOKEN_PATTERN)]


def browser_language() -> str:
    """The first of the visitor's Accept-Language that we speak, else English."""
    headers = {name.lower(): value for name, value in (app.current_event.headers or {}).items()}
    for item in headers.get("accept-language", "").split(","):
        code = item.split(";")[0].strip().lower()[:2]
        if code in SUPPORTED_LANGUAGES:
            return code
    return "en"


def page(outcome: LinkOutcome) -> Response[str]:
    if outcome.language is None:
        outcome = replace(outcome, language=browser_language())
    # Counted before any redirect: a confirmation that lands on the source's own page is one too.
    metrics.add_metric(name=f"LinkPage_{outcome.page.value}", unit="Count", value=1)
    if outcome.redirect_url:
        return Response(
            status_code=HTTPStatus.SEE_OTHER.value, headers={**PAGE_HEADERS, "Location": outcome.redirect_url}
        )
    return Response(
        status_code=PAGE_STATUS.get(outcome.page, HTTPStatus.OK).value,
        content_type=content_types.TEXT_HTML,
        body=render_link_page(outcome, form_action_url="" if outcome.page in WITH_FORM else None),
        headers=PAGE_HEADERS,
    )


def on_malformed_link(_: Exception) -> Response[str]:
    """A truncated or mangled link gets the same friendly page as an unknown one, not a JSON error."""
    return page(LinkOutcome(page=LinkPage.INVALID))


# Over the JSON answers of error_responses: a token the route's pattern refuses, or one that
# does not even match the route (characters a mail client mangled), are links that no longer work.
app.exception_handler(RequestValidationError)(on_malformed_link)
app.not_found(on_malformed_link)


def visitor() -> Visitor:
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    return Visitor(ip=event.request_context.identity.source_ip, user_agent=headers.get("user-agent"))


def form_fields() -> dict[str, str]:
    try:
        body = body_text(app.current_event)
    except MalformedBody:
        return {}  # not a form this page sent: show the page
    return {key: values[0] for key, values in parse_qs(body[:4096]).items() if values}


@app.get(
    "/v1/confirm/<token>",
    tags=["opt-in"],
    summary="Confirmation page (never confirms by itself)",
    responses=PAGE_RESPONSES,
)
def confirm_page(token: TokenPath) -> Response[str]:
    return page(subscription_links().view_confirmation(token))


@app.post(
    "/v1/confirm/<token>",
    tags=["opt-in"],
    summary="Confirm (action=confirm) or ask for a new link (action=resend)",
    responses=PAGE_RESPONSES,
)
def confirm_submit(token: TokenPath) -> Response[str]:
    action = form_fields().get("action")
    links = subscription_links()
    if action == "confirm":
        outcome = links.confirm(token, visitor())
        logger.info("confirmation link used", extra={"page": outcome.page.value})
        return page(outcome)
    if action == "resend":
        return page(links.request_new_link(token, visitor()))
    return page(links.view_confirmation(token))


@app.get("/v1/unsubscribe/<token>", tags=["opt-in"], summary="Unsubscribe page", responses=PAGE_RESPONSES)
def unsubscribe_page(token: TokenPath) -> Response[str]:
    return page(subscription_links().view_unsubscribe(token))


@app.post(
    "/v1/unsubscribe/<token>",
    tags=["opt-in"],
    summary="Unsubscribe (page button, or RFC 8058 one-click)",
    responses=PAGE_RESPONSES,
)
def unsubscribe_submit(token: TokenPath) -> Response[str]:
    fields = form_fields()
    one_click = fields.get("List-Unsubscribe") == "One-Click"
    if not one_click and fields.get("action") != "unsubscribe":
        return page(subscription_links().view_unsubscribe(token))
    outcome = subscription_links().unsubscribe(token, visitor(), one_click=one_click)
    logger.info("unsubscribe link used", extra={"page": outcome.page.value, "one_click": one_click})
    return page(outcome)
