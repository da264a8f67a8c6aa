"""A contacts API for the sync bench that generates each page on request. Bench only.

It answers ``GET /contacts?page=P&per_page=S`` (page-number pagination, pages from 1) exactly as
``tests.doubles.contacts_api_server.ContactsApiServer`` does for that style, with the same records
(``generated_contact``), but keeps none of them: a page is built when asked for, so 1,000,000
contacts cost nothing to hold and nothing to generate up front. The test double keeps every record
in a list and copies it on every request, which is what its fault injection and ``touch`` need, and
what a million-contact run does not.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import override
from urllib.parse import parse_qs, urlsplit

from tests.doubles.contacts_api_server import MAX_PAGE_SIZE, generated_contact
from tests.doubles.loopback_http import LoopbackHttpDouble, QuietJsonHandler


class StreamingContactsApi(LoopbackHttpDouble):
    """``count`` generated contacts behind a loopback HTTP server; use it as a context manager."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), name="bench-streaming-source")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/contacts"

    def take_requests(self) -> int:
        """Requests served since the last call."""
        with self._lock:
            served, self.requests = self.requests, 0
        return served

    def page(self, query: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
        try:
            size = min(int(query.get("per_page", "10")), MAX_PAGE_SIZE)
            page = int(query.get("page", "1"))
        except ValueError:
            return 400, b'{"error": "bad paging parameter"}'
        if size < 1 or page < 1:
            return 400, b'{"error": "bad paging parameter"}'
        first = (page - 1) * size + 1
        last = min(first + size - 1, self.count)
        records = [generated_contact(number) for number in range(first, last + 1)]
        return 200, json.dumps({"data": records}).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        source = self

        class Handler(QuietJsonHandler):
            @override
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/contacts":
                    status, data = 404, b'{"error": "not found"}'
                else:
                    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
                    status, data = source.page(query)
                self.send_json(status, data)

        return Handler
