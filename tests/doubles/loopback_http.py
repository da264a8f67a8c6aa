"""The one loopback HTTP server behind every test double: a thread, a free port, a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of clients must reach the handler, not be reset by the kernel

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hangs up (timeouts, tests that stop early) is not an error here


class QuietJsonHandler(BaseHTTPRequestHandler):
    """The doubles' request handler: keep-alive HTTP/1.1, no logging, JSON answers."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30

    def send_json(
        self,
        status: int,
        data: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            if data:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its timeout ran out)

    def log_message(self, format: str, *args: Any) -> None:
        return


class LoopbackHttpDouble:
    """Serves ``handler_class`` on 127.0.0.1 and a free port while used as a context manager."""

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], name: str) -> None:
        self._server = QuietThreadingServer(("127.0.0.1", 0), handler_class)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
