"""Parse an ingest body: JSON or form-encoded, one contact or a batch, within size and shape limits."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from contactsync.errors import (
    FieldProblem,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})
MAX_DEPTH = 8
MAX_STRING = 10_000
MAX_KEYS = 200


def body_text(event: BaseProxyEvent) -> str:
    """The body as text; bytes that are not UTF-8 (API Gateway base64-encodes them) are malformed here."""
    try:
        return event.decoded_body or ""
    except ValueError:  # binascii.Error and UnicodeDecodeError
        raise MalformedBody("The body is not UTF-8 text.") from None


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
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
            raise MalformedBody("The body is not valid JSON.") from None
        except ValueError:  # an integer longer than Python reads (sys.get_int_max_str_digits(), 4,300)
            raise MalformedBody("The body holds a number with too many digits.") from None
    if kind in FORM_TYPES:
        return form_document(raw)
    raise UnsupportedMediaType


def form_document(raw: str) -> dict[str, Any]:
    """Form fields, with Zapier's dotted or bracketed keys (``member.email``, ``lists[]``) kept usable."""
    document: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=False):
        name = key.removesuffix("[]")
        if name in document:
            existing = document[name]
            document[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            document[name] = value
    return document


def parse_submissions(document: Any, max_contacts: int) -> list[dict[str, Any]]:
    """One contact (an object) or a batch (``{"contacts": [...]}`` or a bare array)."""
    if isinstance(document, dict) and "contacts" in document:
        items, prefix = document["contacts"], "contacts"
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
    problems: list[FieldProblem] = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]" if prefix is not None else "body"
        if not isinstance(item, dict):
            problems.append(FieldProblem(where, "must be an object"))
            continue
        problem = shape_problem(item, where, depth=1)
        if problem:
            problems.append(problem)
    if problems:
        raise ValidationFailed(problems)
    return items


def shape_problem(value: Any, where: str, depth: int) -> FieldProblem | None:
    """Refuse deep nesting, huge strings and huge objects before any mapping runs."""
    if depth > MAX_DEPTH:
        return FieldProblem(where, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str) and len(value) > MAX_STRING:
        return FieldProblem(where, f"longer than {MAX_STRING} characters")
    if isinstance(value, dict):
        if len(value) > MAX_KEYS:
            return FieldProblem(where, f"more than {MAX_KEYS} fields")
        for key, child in value.items():
            found = shape_problem(child, f"{where}.{key}" if where != "body" else str(key), depth + 1)
            if found:
                return found
    if isinstance(value, list):
        if len(value) > MAX_KEYS:
            return FieldProblem(where, f"more than {MAX_KEYS} items")
        for index, child in enumerate(value):
            found = shape_problem(child, f"{where}[{index}]", depth + 1)
            if found:
                return found
    return None
