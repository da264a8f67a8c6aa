from datetime import UTC, datetime

import pytest

from contactsync.domain.change import ChangeKind
from contactsync.domain.contact import SubscriptionStatus
from contactsync.domain.source import ConsentMode, Source, hash_token
from contactsync.errors import AuthenticationFailed, SourceNotFound
from contactsync.models.webhook import ContactSubmission
from contactsync.use_cases.ingest_contacts import IngestContacts
from tests.unit.fakes import InMemoryContacts, InMemorySources, RecordingPublisher

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_source(mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN, enabled: bool = True) -> Source:
    return Source(
        source_id="shop",
        name="Shop",
        consent_mode=mode,
        token_hashes=(hash_token("s3cret-token"),),
        created_at=NOW,
        enabled=enabled,
    )


def make_use_case(source: Source) -> tuple[IngestContacts, InMemoryContacts, RecordingPublisher]:
    contacts, publisher = InMemoryContacts(), RecordingPublisher()
    ids = iter(f"id{n}" for n in range(100))
    use_case = IngestContacts(
        InMemorySources(source), contacts, publisher, clock=lambda: NOW, new_id=lambda: next(ids)
    )
    return use_case, contacts, publisher


def test_new_contact_from_double_opt_in_source_is_pending_and_queued() -> None:
    # Given a double opt-in source
    use_case, contacts, publisher = make_use_case(make_source())
    # When a new address arrives
    outcome = use_case.execute(make_source(), [ContactSubmission(email="Ada@Example.com", first_name="Ada")])
    # Then it is stored pending, and one "created" change is queued
    assert outcome.outcomes[0].accepted
    stored = contacts.by_id["id0"]
    assert stored.status is SubscriptionStatus.PENDING
    assert stored.profile.email == "Ada@example.com"
    assert [(c.contact_id, c.kind) for c in publisher.published] == [("id0", ChangeKind.CREATED)]


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        (ConsentMode.CONSENT_ON_FILE, SubscriptionStatus.SUBSCRIBED),
        (ConsentMode.DATA_ONLY, SubscriptionStatus.NOT_SUBSCRIBED),
    ],
)
def test_initial_status_follows_the_consent_mode(mode: ConsentMode, status: SubscriptionStatus) -> None:
    use_case, contacts, _ = make_use_case(make_source(mode))
    use_case.execute(make_source(mode), [ContactSubmission(email="ada@example.com")])
    assert contacts.by_id["id0"].status is status


def test_same_contact_twice_is_one_contact_and_one_change() -> None:
    use_case, contacts, publisher = make_use_case(make_source())
    submission = ContactSubmission(email="ada@example.com", first_name="Ada")
    use_case.execute(make_source(), [submission])
    # When the same data comes again (a sender retrying)
    again = use_case.execute(make_source(), [submission])
    # Then nothing new is written or queued
    assert again.changes == []
    assert len(contacts.by_id) == 1
    assert len(publisher.published) == 1


def test_update_keeps_fields_the_request_does_not_carry() -> None:
    use_case, contacts, publisher = make_use_case(make_source())
    use_case.execute(
        make_source(), [ContactSubmission(email="ada@example.com", first_name="Ada", last_name="L")]
    )
    use_case.execute(make_source(), [ContactSubmission(email="ADA@example.com", last_name="Lovelace")])
    stored = contacts.by_id["id0"]
    assert (stored.profile.first_name, stored.profile.last_name, stored.version) == ("Ada", "Lovelace", 2)
    assert publisher.published[-1].kind is ChangeKind.UPDATED


def test_losing_a_creation_race_merges_into_the_winner() -> None:
    # Given another request creates the same address between our read and our write
    use_case, contacts, _ = make_use_case(make_source())
    winner_case, winner_contacts, _ = make_use_case(make_source())
    winner_case.execute(make_source(), [ContactSubmission(email="ada@example.com")])
    contacts.lose_next_create_race_to = winner_contacts.by_id["id0"].model_copy(
        update={"contact_id": "winner"}
    )
    # When our request stores it
    use_case.execute(make_source(), [ContactSubmission(email="ada@example.com", first_name="Ada")])
    # Then there is one contact, the winner's, with our data merged in
    assert list(contacts.by_id) == ["winner"]
    assert contacts.by_id["winner"].profile.first_name == "Ada"


def test_invalid_contacts_are_rejected_with_field_paths_and_others_accepted() -> None:
    use_case, contacts, _ = make_use_case(make_source())
    outcome = use_case.execute(
        make_source(),
        [
            ContactSubmission(email="nope"),
            ContactSubmission(first_name="No identity"),
            ContactSubmission(email="a@b.co"),
        ],
    )
    assert [o.accepted for o in outcome.outcomes] == [False, False, True]
    assert outcome.outcomes[0].problems[0].path == "email"
    assert "an email or a phone" in outcome.outcomes[1].problems[0].message
    assert len(contacts.by_id) == 1


def test_unknown_fields_become_custom_attributes() -> None:
    use_case, contacts, _ = make_use_case(make_source())
    use_case.execute(make_source(), [ContactSubmission.model_validate({"email": "a@b.co", "plan": "desk"})])
    assert contacts.by_id["id0"].profile.custom_attributes == {"plan": "desk"}


def test_authentication_needs_an_enabled_source_and_its_token() -> None:
    use_case, _, _ = make_use_case(make_source())
    assert use_case.authenticate("shop", "s3cret-token").source_id == "shop"
    with pytest.raises(AuthenticationFailed):
        use_case.authenticate("shop", "wrong")
    with pytest.raises(SourceNotFound):
        use_case.authenticate("elsewhere", "s3cret-token")
    disabled_case, _, _ = make_use_case(make_source(enabled=False))
    with pytest.raises(SourceNotFound):
        disabled_case.authenticate("shop", "s3cret-token")
