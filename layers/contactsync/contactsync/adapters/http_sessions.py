"""HTTP sessions for connectors: bounded connection pools and retries that fit inside a Lambda.

A session built here retries 429, 5xx, dropped connections and timeouts a few
times with exponential backoff and jitter, honours a short ``Retry-After``, and
never opens more than ``pool_size`` connections at once (callers wait for a free
one instead). A long ``Retry-After`` is not slept in-process: the session gives
up and returns the response, so the caller can report the delay and let the
queue bring the item back later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_FACTOR = 0.5
DEFAULT_BACKOFF_JITTER = 0.5
DEFAULT_BACKOFF_MAX = 4.0
DEFAULT_MAX_RETRY_AFTER = 5.0


class ShortRetryAfterRetry(Retry):
    """``Retry`` that waits for a ``Retry-After`` only when it is short.

    When the server asks to wait longer than ``max_retry_after`` seconds the
    retries stop at once; with ``raise_on_status=False`` the caller then gets
    the response itself, ``Retry-After`` header included.
    """

    def __init__(self, *args: Any, max_retry_after: float = DEFAULT_MAX_RETRY_AFTER, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_after = max_retry_after

    def new(self, **kw: Any) -> Self:
        kw.setdefault("max_retry_after", self.max_retry_after)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and self.respect_retry_after_header:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:
                wait = None
            if wait is not None and wait > self.max_retry_after:
                reason = ResponseError(
                    f"Retry-After of {wait:.0f}s is longer than {self.max_retry_after:.0f}s"
                )
                raise MaxRetryError(_pool, url or "", reason)  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


def retrying_session(
    pool_size: int,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    backoff_jitter: float = DEFAULT_BACKOFF_JITTER,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> requests.Session:
    """A session with at most ``pool_size`` open connections per host and in-process retries.

    Every method is retried: the connectors built on it only send idempotent
    upserts and deletes. ``attempts`` counts the retries after the first try.
    """
    if pool_size < 1:
        raise ValueError("pool_size must be at least 1")
    retry = ShortRetryAfterRetry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        redirect=0,
        allowed_methods=None,
        status_forcelist=RETRIED_STATUSES,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        backoff_max=DEFAULT_BACKOFF_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        max_retry_after=max_retry_after,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_size, pool_block=True)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
