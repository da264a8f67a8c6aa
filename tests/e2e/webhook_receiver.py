"""A destination for end-to-end tests: a loopback HTTP server that records signed webhooks."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedWebhook:
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Answers 204, or 500 for contacts whose email contains ``fail_marker``."""

    def __init__(self, fail_marker: str = "always-fails") -> None:
        self.received: list[ReceivedWebhook] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length).decode()
                with receiver._lock:
                    receiver.received.append(
                        ReceivedWebhook({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                failing = fail_marker in body
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def for_email(self, email: str) -> list[ReceivedWebhook]:
        with self._lock:
            return [hook for hook in self.received if hook.json()["data"]["email"] == email]

    def wait_for(self, email: str, count: int = 1, timeout: float = 30.0) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.for_email(email)
            if len(found) >= count:
                return found
            time.sleep(0.2)
        raise AssertionError(
            f"{len(self.for_email(email))} webhook(s) for {email} after {timeout}s, wanted {count}"
        )
