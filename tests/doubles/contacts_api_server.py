"""An HTTP JSON contacts API for tests: one list of generated contacts, paged in every style.

``GET /contacts`` answers ``{"data": [...], ...}``; the query's ``style`` chooses the pagination:

- ``page_number`` (default): ``page`` (from 1) and ``per_page``;
- ``cursor``: ``cursor`` (opaque) and ``per_page``; the body's ``next_cursor`` names the
  next page, null on the last;
- ``next_link``: ``per_page``; the body's ``links.next`` is the absolute URL of the next
  page, null on the last;
- ``link_header``: like ``next_link``, but the next URL is a relative one in a
  ``Link: <...>; rel="next"`` header.

``updated_since`` keeps the contacts updated strictly after it (ISO 8601, compared as
text), in id order. With a ``token`` the server wants ``Authorization: Bearer <token>``
and answers 401 otherwise. For tests it records every request's query and injects
faults: ``fail_next(n, status, retry_after)``, ``heal()``.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, override
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.doubles.loopback_http import LoopbackHttpDouble, QuietJsonHandler

STYLES = ("page_number", "cursor", "next_link", "link_header")
MAX_PAGE_SIZE = 1000
FIRST_UPDATE = datetime(2024, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_contact(number: int) -> dict[str, Any]:
    """Contact ``number`` (from 1), updated ``number`` minutes after ``FIRST_UPDATE``."""
    return {
        "id": number,
        "email": f"person{number}@example.com",
        "first_name": f"First{number}",
        "last_name": f"Last{number}",
        "updated_at": iso(FIRST_UPDATE + timedelta(minutes=number)),
    }


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str]


class ContactsApiServer(LoopbackHttpDouble):
    """Generated contacts behind a loopback HTTP server; use it as a context manager."""

    def __init__(self, count: int = 0, token: str | None = None) -> None:
        self.token = token
        self.requests: list[dict[str, str]] = []  # the query of every request, faults included
        self._records: list[Any] = [generated_contact(number) for number in range(1, count + 1)]
        self._faults: list[tuple[int, int | None]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), name="contacts-api-double")

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, style: str = "page_number") -> str:
        """The list URL for one pagination style."""
        if style not in STYLES:
            raise ValueError(f"unknown style {style}")
        return f"{self.base_url}/contacts?style={style}"

    # -- the data -----------------------------------------------------------------------------------

    def append(self, record: Any) -> None:
        """Add any JSON value as the next record (e.g. one that is not an object)."""
        with self._lock:
            self._records.append(record)

    def touch(self, contact_id: int, at: datetime, **changes: Any) -> None:
        """Update a contact as the source system would: new ``updated_at`` and changed fields."""
        with self._lock:
            for record in self._records:
                if isinstance(record, dict) and record.get("id") == contact_id:
                    record.update(changes, updated_at=iso(at))
                    return
        raise KeyError(contact_id)

    def fail_next(self, n: int, status: int, retry_after: int | None = None) -> None:
        """The next ``n`` requests get ``status`` (with ``Retry-After`` when given)."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def heal(self) -> None:
        """Forget the faults not served yet."""
        with self._lock:
            self._faults.clear()

    # -- serving ------------------------------------------------------------------------------------

    def _serve(self, path: str, query: dict[str, str], authorization: str | None) -> _Reply:
        with self._lock:
            self.requests.append(dict(query))
            if self._faults:
                status, retry_after = self._faults.pop(0)
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return _Reply(status, {"error": "injected failure"}, headers)
            records = list(self._records)
        if self.token is not None and authorization != f"Bearer {self.token}":
            return _Reply(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        if path != "/contacts":
            return _Reply(404, {"error": "not found"}, {})
        style = query.get("style", "page_number")
        if style not in STYLES:
            return _Reply(400, {"error": "unknown style"}, {})
        try:
            size = min(int(query.get("per_page", "10")), MAX_PAGE_SIZE)
            page = int(query.get("page", "1"))
            offset = _offset_of(query.get("cursor")) if style == "cursor" else int(query.get("offset", "0"))
        except ValueError:
            return _Reply(400, {"error": "bad paging parameter"}, {})
        if size < 1 or page < 1 or offset < 0:
            return _Reply(400, {"error": "bad paging parameter"}, {})
        since = query.get("updated_since")
        if since is not None:
            records = [r for r in records if isinstance(r, dict) and str(r.get("updated_at", "")) > since]
        if style == "page_number":
            offset = (page - 1) * size
        chunk = records[offset : offset + size]
        more = offset + size < len(records)
        body: dict[str, Any] = {"data": chunk}
        headers: dict[str, str] = {}
        if style == "cursor":
            body["next_cursor"] = _cursor_of(offset + size) if more else None
        elif style in ("next_link", "link_header"):
            following = {k: v for k, v in query.items() if k != "offset"} | {"offset": str(offset + size)}
            relative = f"/contacts?{urlencode(following)}"
            if style == "next_link":
                body["links"] = {"next": f"{self.base_url}{relative}" if more else None}
            elif more:
                headers["Link"] = f'<{relative}>; rel="next"'
        return _Reply(200, body, headers)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(QuietJsonHandler):
            @override
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
                reply = double._serve(parts.path, query, self.headers.get("authorization"))
                self.send_json(reply.status, json.dumps(reply.body).encode(), headers=reply.headers)

        return Handler


def _cursor_of(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset_of(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("bad cursor") from None
    if not text.startswith("offset:"):
        raise ValueError("bad cursor")
    return int(text.removeprefix("offset:"))
