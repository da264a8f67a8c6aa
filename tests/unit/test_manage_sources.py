"""Bearer-token rotation: the old token's grace period, and a rotation without grace after a leak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contactsync.domain.source import hash_token
from contactsync.use_cases.manage_sources import ManageSources, SourceSettings
from tests.unit.fakes import InMemorySources

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class UnusedSigningSecrets:
    """Bearer-token sources never touch the signing secrets."""

    def add_secret(
        self, source_id: str, secret: str, previous_valid_until: datetime | None, now: datetime
    ) -> None:
        raise AssertionError("a bearer-token source stored a signing secret")


def tokens_valid_at(sources: InMemorySources, at: datetime, *tokens: str) -> list[bool]:
    source = sources.get("shop")
    assert source is not None
    valid = {token.sha256 for token in source.token_hashes if token.valid_at(at)}
    return [hash_token(token) in valid for token in tokens]


def test_a_rotation_keeps_the_old_token_for_its_grace_period() -> None:
    # Given a source and its first token
    sources, clock = InMemorySources(), [NOW]
    manage = ManageSources(sources, UnusedSigningSecrets(), clock=lambda: clock[0])
    first = manage.register("shop", SourceSettings(name="Shop")).credential
    # When it is rotated with 24 hours of grace, then again an hour later with 48 hours
    second = manage.rotate("shop", timedelta(hours=24)).credential
    clock[0] = NOW + timedelta(hours=1)
    third = manage.rotate("shop", timedelta(hours=48)).credential
    # Then the first keeps only its own 24 hours, the second its 48, the newest has no end
    assert tokens_valid_at(sources, NOW + timedelta(hours=23), first, second, third) == [True, True, True]
    assert tokens_valid_at(sources, NOW + timedelta(hours=24), first, second, third) == [False, True, True]
    assert tokens_valid_at(sources, NOW + timedelta(hours=49), first, second, third) == [False, False, True]


def test_a_rotation_without_grace_retires_every_older_token_at_once() -> None:
    # Given a source rotated once with 24 hours of grace
    sources = InMemorySources()
    manage = ManageSources(sources, UnusedSigningSecrets(), clock=lambda: NOW)
    first = manage.register("shop", SourceSettings(name="Shop")).credential
    second = manage.rotate("shop", timedelta(hours=24)).credential
    # When a token leaks and the operator rotates without grace
    third = manage.rotate("shop", timedelta(0)).credential
    # Then only the newest token works, the one still in its earlier grace period included
    assert tokens_valid_at(sources, NOW, first, second, third) == [False, False, True]
    stored = sources.get("shop")
    assert stored is not None
    assert len(stored.token_hashes) == 1
