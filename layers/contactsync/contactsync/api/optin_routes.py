"""Routes of the OptIn function: the confirmation and unsubscribe pages people open from mail."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path

from contactsync.api.error_responses import register_error_handlers
from contactsync.pages import render_link_invalid_page

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"  # noqa: S105 - a shape, not a secret


def _invalid_link(language: str) -> Response[str]:
    return Response(
        status_code=HTTPStatus.NOT_FOUND.value,
        content_type=content_types.TEXT_HTML,
        body=render_link_invalid_page(language),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@app.get("/v1/confirm/<token>", tags=["opt-in"], summary="Confirmation page (never confirms by itself)")
def confirm_page(token: Annotated[str, Path()]) -> Response[str]:
    return _invalid_link(_language())


@app.post("/v1/confirm/<token>", tags=["opt-in"], summary="Confirm a subscription")
def confirm_submit(token: Annotated[str, Path()]) -> Response[str]:
    return _invalid_link(_language())


@app.get("/v1/unsubscribe/<token>", tags=["opt-in"], summary="Unsubscribe page")
def unsubscribe_page(token: Annotated[str, Path()]) -> Response[str]:
    return _invalid_link(_language())


@app.post("/v1/unsubscribe/<token>", tags=["opt-in"], summary="Unsubscribe (also RFC 8058 one-click)")
def unsubscribe_submit(token: Annotated[str, Path()]) -> Response[str]:
    return _invalid_link(_language())


def _language() -> str:
    accept = app.current_event.headers.get("accept-language") or app.current_event.headers.get(
        "Accept-Language"
    )
    return "fr" if (accept or "").lower().startswith("fr") else "en"
