from datetime import UTC, datetime

from contactsync.domain.consent_ledger import (
    GENESIS_HASH,
    ConsentEventDraft,
    ConsentEventType,
    chain_event,
    chain_is_intact,
)

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def three_events() -> list:  # type: ignore[type-arg]
    first = chain_event(None, ConsentEventDraft(type=ConsentEventType.REQUESTED, at=AT, ip="203.0.113.9"))
    second = chain_event(first, ConsentEventDraft(type=ConsentEventType.MAIL_SENT, at=AT, message_id="<m@x>"))
    third = chain_event(second, ConsentEventDraft(type=ConsentEventType.CONFIRMED, at=AT, ip="198.51.100.7"))
    return [first, second, third]


def test_each_event_holds_the_hash_of_the_one_before() -> None:
    events = three_events()
    assert events[0].previous_sha256 == GENESIS_HASH
    assert [e.previous_sha256 for e in events[1:]] == [e.sha256 for e in events[:-1]]
    assert chain_is_intact(events)


def test_altering_removing_or_reordering_an_event_shows() -> None:
    events = three_events()
    altered = [events[0], events[1].model_copy(update={"message_id": "<forged@x>"}), events[2]]
    assert not chain_is_intact(altered)
    assert not chain_is_intact([events[0], events[2]])
    assert not chain_is_intact([events[1], events[0], events[2]])
