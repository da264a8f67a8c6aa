"""Parse an ingest body: JSON or form-encoded, one contact or a batch, within size limits."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from contactsync.errors import (
    FieldProblem,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from contactsync.models.webhook import ContactSubmission

JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_document(body: str | None, content_type: str | None, max_bytes: int) -> Any:
    """Decode the body into plain data, refusing what is too large, of the wrong type or broken."""
    raw = body or ""
    if len(raw.encode()) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    kind = media_type(content_type)
    if kind in JSON_TYPES or (kind.startswith("application/") and kind.endswith("+json")):
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            raise MalformedBody("The body is not valid JSON.") from None
    if kind in FORM_TYPES:
        return dict(parse_qsl(raw, keep_blank_values=False))
    raise UnsupportedMediaType


def parse_submissions(document: Any, max_contacts: int) -> list[ContactSubmission]:
    """One contact (an object) or a batch (``{"contacts": [...]}`` or a bare array)."""
    if isinstance(document, dict) and "contacts" in document:
        items = document["contacts"]
        prefix = "contacts"
    elif isinstance(document, list):
        items, prefix = document, ""
    elif isinstance(document, dict):
        items, prefix = [document], None
    else:
        raise MalformedBody("The body must be a JSON object or array.")
    if not isinstance(items, list) or not items:
        raise ValidationFailed([FieldProblem("contacts", "must be a non-empty array")])
    if len(items) > max_contacts:
        raise ValidationFailed([FieldProblem("contacts", f"at most {max_contacts} contacts per request")])
    submissions: list[ContactSubmission] = []
    problems: list[FieldProblem] = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]" if prefix is not None else ""
        try:
            submissions.append(ContactSubmission.model_validate(item))
        except ValidationError as error:
            problems.extend(
                FieldProblem(_join(where, issue["loc"]), issue["msg"])
                for issue in error.errors(include_input=False)
            )
    if problems:
        raise ValidationFailed(problems)
    return submissions


def _join(prefix: str, location: tuple[int | str, ...]) -> str:
    parts = [prefix] if prefix else []
    parts.extend(str(part) for part in location)
    return ".".join(parts) or "body"
