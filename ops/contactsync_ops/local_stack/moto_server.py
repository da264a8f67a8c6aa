"""moto's server on loopback: SQS, S3, SES and Secrets Manager for the local stack.

Built like moto's ThreadedMotoServer, with one addition: requests that do not name an
account get the local stack's account id (000000000000, as DynamoDB Local uses), without
setting MOTO_ACCOUNT_ID for the whole process (that would leak into unrelated moto tests).
"""

from __future__ import annotations

import threading
import urllib.request
from typing import TYPE_CHECKING, Any, Self

from contactsync_ops.local_stack.loopback_ports import LOOPBACK, claim_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

LOCAL_ACCOUNT_ID = "000000000000"


class MotoServer:
    """A moto server in a daemon thread of this process."""

    def __init__(self, *, port: int = 0, account_id: str = LOCAL_ACCOUNT_ID) -> None:
        self.requested_port = port
        self.account_id = account_id
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("moto server is not started")
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        """Start serving and return the endpoint URL."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        port = claim_port(self.requested_port, "moto server")
        moto_app = DomainDispatcherApplication(create_backend_app)
        account_id = self.account_id

        def with_local_account(
            environ: dict[str, Any], start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            environ.setdefault("HTTP_X_MOTO_ACCOUNT_ID", account_id)
            result: Iterable[bytes] = moto_app(environ, start_response)
            return result

        class QuietRequestHandler(MotoRequestHandler):
            """Keeps the console for function logs: no access line per SQS poll."""

            def log_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self._server = make_server(
            LOOPBACK, port, with_local_account, threaded=True, request_handler=QuietRequestHandler
        )
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        return self.endpoint_url

    def reset(self) -> None:
        """Forget every queue, bucket and secret (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL we built
            pass

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
