"""Sources remembered for a few seconds per container, never trusted for a refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contactsync.adapters.recent_sources import RecentSources
from contactsync.domain.source import Source, TokenHash, hash_token
from contactsync.errors import AuthenticationFailed, SourceNotFound
from contactsync.use_cases.ingest_contacts import InboundRequest, IngestContacts
from tests.unit.fakes import (
    InMemorySources,
    in_memory_dependencies,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class CountingStore(InMemorySources):
    def __init__(self, *sources: Source) -> None:
        super().__init__(*sources)
        self.reads = 0

    def get(self, source_id: str, *, fresh: bool = False) -> Source | None:
        self.reads += 1
        return super().get(source_id, fresh=fresh)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def shop(token: str, **changes: object) -> Source:
    values: dict[str, object] = {
        "source_id": "shop",
        "name": "Shop",
        "token_hashes": (TokenHash(sha256=hash_token(token)),),
        "created_at": NOW,
        **changes,
    }
    return Source.model_validate(values)


def ingest_with(sources: RecentSources) -> IngestContacts:
    return IngestContacts(in_memory_dependencies(sources=sources), clock=lambda: NOW)


def request_with(token: str) -> InboundRequest:
    return InboundRequest("shop", {"authorization": f"Bearer {token}"}, "{}")


def test_a_busy_source_is_read_once_per_ten_seconds() -> None:
    # Given a source behind the container's cache
    store, clock = CountingStore(shop("t1")), Clock()
    ingest = ingest_with(RecentSources(store, ttl_seconds=10, clock=clock))
    # When a hundred webhooks arrive within ten seconds, then one more after
    for _ in range(100):
        ingest.authenticate(request_with("t1"))
        clock.now += 0.09
    clock.now += 2.0
    ingest.authenticate(request_with("t1"))
    # Then the source was read twice
    assert store.reads == 2


def test_a_new_token_works_at_once_even_while_the_old_source_is_cached() -> None:
    # Given a cached source, then its token rotated in the store (the CLI's rotate-secret)
    store, clock = CountingStore(shop("old")), Clock()
    ingest = ingest_with(RecentSources(store, ttl_seconds=10, clock=clock))
    ingest.authenticate(request_with("old"))
    store.put(shop("new"))
    # When the sender uses the new token a second later
    clock.now += 1
    # Then it is admitted (the refusal was checked against the store, not the cache)
    assert ingest.authenticate(request_with("new")).source_id == "shop"


def test_a_disabled_source_is_refused_once_its_cached_copy_expires() -> None:
    # Given a cached source that is then disabled in the store
    store, clock = CountingStore(shop("t1")), Clock()
    ingest = ingest_with(RecentSources(store, ttl_seconds=10, clock=clock))
    ingest.authenticate(request_with("t1"))
    store.put(shop("t1", enabled=False))
    # When ten seconds have passed
    clock.now += 10
    # Then the source is unknown to senders, and a wrong token stays a 401 on the stored truth
    with pytest.raises(SourceNotFound):
        ingest.authenticate(request_with("t1"))
    store.put(shop("t1"))
    with pytest.raises(AuthenticationFailed):
        ingest.authenticate(request_with("wrong"))


def test_unknown_ids_never_grow_the_cache_without_bound() -> None:
    # Given a cache in front of an empty store
    recent = RecentSources(CountingStore(), ttl_seconds=10, clock=Clock())
    # When someone tries thousands of made-up source ids
    for number in range(5000):
        recent.get(f"made-up-{number}")
    # Then the cache holds at most its limit
    assert len(recent._recent) <= 1024
