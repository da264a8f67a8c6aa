"""Sources kept for a few seconds per container: a webhook costs one DynamoDB read less.

Every request reads its source; a container serving a busy source would read the
same item many times a second. A refusal never rests on a cached copy: the ingest
use case asks again with ``fresh=True`` before answering 401 or 404, so a new
token or a re-enabled source works at once. Disabling a source or revoking a token
takes effect within ``ttl_seconds`` in containers that had it cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from contactsync.domain.source import Source
from contactsync.ports import SourceRepository

DEFAULT_TTL_SECONDS = 10.0
MAX_ENTRIES = 1024


class RecentSources:
    """``SourceRepository`` in front of another, remembering each lookup for ``ttl_seconds``."""

    def __init__(
        self,
        stored: SourceRepository,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stored = stored
        self._ttl = ttl_seconds
        self._clock = clock
        self._recent: dict[str, tuple[float, Source | None]] = {}

    def get(self, source_id: str, *, fresh: bool = False) -> Source | None:
        now = self._clock()
        remembered = self._recent.get(source_id)
        if not fresh and remembered is not None and now - remembered[0] < self._ttl:
            return remembered[1]
        source = self._stored.get(source_id, fresh=True)
        if len(self._recent) >= MAX_ENTRIES:  # ids are client input: never grow without bound
            self._recent.clear()
        self._recent[source_id] = (now, source)
        return source

    def put(self, source: Source) -> None:
        self._stored.put(source)
        self._recent.pop(source.source_id, None)

    def list_all(self) -> list[Source]:
        return self._stored.list_all()
