"""The ingest use case with in-memory ports: authentication and the consent rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from contactsync.domain.change import ChangeKind
from contactsync.domain.consent_ledger import ConsentEventType
from contactsync.domain.contact import SubscriptionStatus
from contactsync.domain.source import AuthMode, ConsentMode, Source, TokenHash, hash_token
from contactsync.domain.subscription_rules import OptInKind
from contactsync.errors import AuthenticationFailed, RateLimited, SourceNotFound
from contactsync.use_cases.ingest_contacts import (
    InboundRequest,
    IngestContacts,
    OptInLimits,
)
from tests.unit.fakes import (
    InMemoryContacts,
    InMemorySources,
    InMemorySuppression,
    InMemoryTransactions,
    RecordingOptIns,
    RecordingPublisher,
    StaticSigningSecrets,
    in_memory_dependencies,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-token"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_source(mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN, **changes: Any) -> Source:
    values: dict[str, Any] = {
        "source_id": "shop",
        "name": "Shop",
        "consent_mode": mode,
        "token_hashes": (TokenHash(sha256=hash_token(TOKEN)),),
        "created_at": NOW,
    }
    values.update(changes)
    return Source(**values)


@dataclass
class World:
    use_case: IngestContacts
    contacts: InMemoryContacts
    changes: RecordingPublisher
    opt_ins: RecordingOptIns
    suppression: InMemorySuppression
    consent: InMemoryTransactions
    clock: list[datetime]

    def send(self, source: Source, *payloads: dict[str, Any]) -> Any:
        return self.use_case.execute(
            source, list(payloads), InboundRequest("shop", {}, "", "203.0.113.9", "Zapier")
        )

    def only_contact(self) -> Any:
        (contact,) = self.contacts.by_id.values()
        return contact


@pytest.fixture
def world() -> World:
    contacts, changes, opt_ins, suppression = (
        InMemoryContacts(),
        RecordingPublisher(),
        RecordingOptIns(),
        InMemorySuppression(),
    )
    clock = [NOW]
    ids = iter(f"id{n}" for n in range(1000))
    consent = InMemoryTransactions(contacts)
    deps = in_memory_dependencies(
        consent=consent,
        sources=InMemorySources(make_source()),
        contacts=contacts,
        changes=changes,
        opt_ins=opt_ins,
        suppression=suppression,
        signing_secrets=StaticSigningSecrets({"signed": [SECRET]}),
    )
    use_case = IngestContacts(deps, clock=lambda: clock[0], new_id=lambda: next(ids))
    return World(use_case, contacts, changes, opt_ins, suppression, consent, clock)


def test_new_contact_from_double_opt_in_source_is_pending_with_one_opt_in(world: World) -> None:
    # When a new address arrives from a double opt-in source
    outcome = world.send(make_source(), {"email": "Ada@Example.com", "first_name": "Ada"})
    # Then it is stored pending, one change is queued,
    # and one confirmation mail is requested with the request's origin
    contact = world.only_contact()
    assert outcome.outcomes[0].accepted
    assert (contact.status, contact.profile.email) == (SubscriptionStatus.PENDING, "Ada@example.com")
    assert [c.kind for c in world.changes.published] == [ChangeKind.CREATED]
    (opt_in,) = world.opt_ins.published
    assert (opt_in.kind, opt_in.request_ip, opt_in.user_agent) == (
        OptInKind.SUBSCRIPTION,
        "203.0.113.9",
        "Zapier",
    )


def test_consent_on_file_needs_evidence_and_then_subscribes_at_once(world: World) -> None:
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    refused = world.send(source, {"email": "a@b.co"})
    assert refused.outcomes[0].problems[0].path == "consent"
    assert world.contacts.by_id == {}
    world.send(
        source,
        {
            "email": "a@b.co",
            "consent_basis": "implied",
            "consent_obtained_at": "2026-11-01",
            "consent_method": "purchase",
        },
    )
    contact = world.only_contact()
    assert contact.status is SubscriptionStatus.SUBSCRIBED
    assert contact.consent is not None
    assert contact.consent.expires_at == datetime(2028, 10, 31, tzinfo=UTC)  # CASL: 2 years after a purchase
    assert world.opt_ins.published == []


def test_data_only_source_never_subscribes(world: World) -> None:
    world.send(make_source(ConsentMode.DATA_ONLY), {"email": "a@b.co"})
    assert world.only_contact().status is SubscriptionStatus.NOT_SUBSCRIBED
    assert world.opt_ins.published == []


def test_changes_to_a_subscribed_contact_wait_for_confirmation_from_a_double_opt_in_source(
    world: World,
) -> None:
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    world.send(make_source(ConsentMode.CONSENT_ON_FILE), {"email": "a@b.co", "first_name": "Ann", **evidence})
    # When a double opt-in source sends new data for the subscribed contact
    world.send(make_source(), {"email": "a@b.co", "first_name": "Anne"})
    # Then the stored data is unchanged, the change is pending, and a confirmation is requested
    contact = world.only_contact()
    assert contact.profile.first_name == "Ann"
    assert contact.pending_change is not None
    assert contact.pending_change.profile.first_name == "Anne"
    assert world.opt_ins.published[-1].kind is OptInKind.CHANGE
    assert contact.status is SubscriptionStatus.SUBSCRIBED


@pytest.mark.parametrize(
    ("method", "obtained_at", "expires_at", "subscribed"),
    [
        ("purchase", "2024-10-23", "2099-01-01", False),  # a later end than CASL's 2 years is cut to them
        ("website inquiry", "2025-10-23", None, False),  # an inquiry gives 6 months, whatever else it says
        ("purchase", "2025-10-23", None, True),  # 2 years after a purchase: still valid
    ],
)
def test_implied_consent_never_outlasts_its_casl_period(
    world: World, method: str, obtained_at: str, expires_at: str | None, subscribed: bool
) -> None:
    # Given implied consent obtained 13 or 25 months before now
    evidence = {"consent_basis": "implied", "consent_obtained_at": obtained_at, "consent_method": method}
    if expires_at:
        evidence["consent_expires_at"] = expires_at
    # When a consent-on-file source sends it
    world.send(make_source(ConsentMode.CONSENT_ON_FILE), {"email": "a@b.co", **evidence})
    # Then the contact is subscribed only while the CASL period lasts
    contact = world.only_contact()
    assert (contact.status is SubscriptionStatus.SUBSCRIBED) is subscribed


def test_consent_dated_after_the_use_cases_clock_is_refused_whatever_the_wall_clock(world: World) -> None:
    # Given the use case's clock a year before the wall clock
    world.clock[0] = NOW - timedelta(days=365)
    evidence = {"consent_basis": "express", "consent_method": "form"}
    # When a contact's consent is dated after that clock (but before the wall clock)
    outcome = world.send(
        make_source(ConsentMode.CONSENT_ON_FILE),
        {"email": "a@b.co", "consent_obtained_at": "2026-01-01", **evidence},
    )
    # Then it is refused at its consent date and nothing is stored
    assert [problem.path for problem in outcome.outcomes[0].problems] == ["consent_obtained_at"]
    assert world.contacts.by_id == {}


def test_consent_on_file_changes_apply_at_once_and_never_downgrade(world: World) -> None:
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    world.send(source, {"email": "a@b.co", "first_name": "Ann", **evidence})
    world.send(source, {"email": "a@b.co", "first_name": "Anne", **evidence})
    world.send(make_source(ConsentMode.DATA_ONLY), {"email": "a@b.co", "last_name": "Roy"})
    contact = world.only_contact()
    assert (contact.profile.first_name, contact.profile.last_name) == ("Anne", "Roy")
    assert contact.status is SubscriptionStatus.SUBSCRIBED


def test_an_opted_out_address_is_never_resubscribed_by_a_webhook(world: World) -> None:
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    world.send(source, {"email": "a@b.co", **evidence})
    world.send(source, {"email": "a@b.co", "type": "contact.unsubscribed"})
    world.send(source, {"email": "a@b.co", **evidence})
    world.send(make_source(), {"email": "a@b.co"})
    assert world.only_contact().status is SubscriptionStatus.UNSUBSCRIBED


def test_an_unsubscribe_from_a_source_is_kept_with_its_proof_and_suppressed(world: World) -> None:
    # Given a subscribed contact
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    world.send(source, {"email": "a@b.co", **evidence})
    # When the source sends an unsubscribe event for them
    world.send(source, {"email": "A@b.co", "type": "contact.unsubscribed"})
    # Then they are opted out, the ledger holds the withdrawal with where it came from,
    contact = world.only_contact()
    assert contact.status is SubscriptionStatus.UNSUBSCRIBED
    (event,) = world.consent.events
    assert (event.type, event.source_id, event.ip, event.user_agent) == (
        ConsentEventType.WITHDRAWN,
        "shop",
        "203.0.113.9",
        "Zapier",
    )
    # and the address is on the suppression list, as after the unsubscribe link
    assert world.suppression.is_suppressed("EMAIL#a@b.co")
    assert [c.kind for c in world.changes.published] == [ChangeKind.CREATED, ChangeKind.UNSUBSCRIBED]


def test_a_data_update_for_an_opted_out_contact_mails_nobody(world: World) -> None:
    # Given a contact who opted out
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    world.send(source, {"email": "a@b.co", "first_name": "Ann", **evidence})
    world.send(source, {"email": "a@b.co", "type": "contact.unsubscribed"})
    # When a double opt-in source sends an update (not a subscribe) for them
    world.send(make_source(), {"email": "a@b.co", "type": "member.plan_changed", "last_name": "Roy"})
    # Then the data is applied, they stay opted out, and no request for consent goes out
    contact = world.only_contact()
    assert (contact.status, contact.profile.last_name) == (SubscriptionStatus.UNSUBSCRIBED, "Roy")
    assert contact.pending_change is None
    assert world.opt_ins.published == []
    # But when they sign up again themselves, they get a confirmation mail (a new opt-in)
    world.send(make_source(), {"email": "a@b.co", "type": "contact.subscribed"})
    assert [o.kind for o in world.opt_ins.published] == [OptInKind.SUBSCRIPTION]
    assert world.only_contact().status is SubscriptionStatus.UNSUBSCRIBED
    # And signing up again the same day sends no second one
    world.clock[0] = NOW + timedelta(hours=2)
    world.send(make_source(), {"email": "a@b.co", "type": "contact.subscribed"})
    assert len(world.opt_ins.published) == 1


def test_an_erased_address_comes_back_unsubscribed(world: World) -> None:
    world.suppression.suppress("EMAIL#a@b.co")
    world.send(make_source(), {"email": "A@b.co"})
    assert world.only_contact().status is SubscriptionStatus.UNSUBSCRIBED
    assert world.opt_ins.published == []


def test_a_repeat_is_one_contact_one_change_and_one_mail_within_the_resend_window(world: World) -> None:
    world.send(make_source(), {"email": "a@b.co", "first_name": "Ann"})
    world.send(make_source(), {"email": "a@b.co", "first_name": "Ann"})
    assert (len(world.contacts.by_id), len(world.changes.published), len(world.opt_ins.published)) == (
        1,
        1,
        1,
    )
    # A day later the same sign-up sends the mail again
    world.clock[0] = NOW + timedelta(hours=25)
    world.send(make_source(), {"email": "a@b.co", "first_name": "Ann"})
    assert len(world.opt_ins.published) == 2


def test_losing_a_creation_race_merges_into_the_winner_without_a_second_mail(world: World) -> None:
    # Given another request creates the same address between our read and our write
    world.send(make_source(), {"email": "rival@b.co"})
    winner = world.only_contact()
    world.contacts = world.use_case._deps.contacts = type(world.contacts)()  # type: ignore[assignment]
    world.contacts.lose_next_create_race_to = winner.model_copy(
        update={"contact_id": "winner", "identity_key": "EMAIL#a@b.co", "opt_in_requested_at": NOW}
    )
    mails_before = len(world.opt_ins.published)
    # When our request stores it
    world.send(make_source(), {"email": "a@b.co", "first_name": "Ada"})
    # Then there is one contact, the winner's, with our data merged in, and no second mail
    assert list(world.contacts.by_id) == ["winner"]
    assert world.contacts.by_id["winner"].profile.first_name == "Ada"
    assert len(world.opt_ins.published) == mails_before


def test_an_email_change_moves_the_contact(world: World) -> None:
    world.send(make_source(ConsentMode.DATA_ONLY), {"email": "old@b.co", "first_name": "Ann"})
    world.send(
        make_source(ConsentMode.DATA_ONLY),
        {"type": "member.email_changed", "email": "new@b.co", "previous_email": "old@b.co"},
    )
    contact = world.only_contact()
    assert (contact.identity_key, contact.profile.email, contact.profile.first_name) == (
        "EMAIL#new@b.co",
        "new@b.co",
        "Ann",
    )
    assert world.changes.published[-1].kind is ChangeKind.EMAIL_CHANGED
    assert world.contacts.find_by_identity("EMAIL#old@b.co") is None


def test_a_pending_contact_that_changes_address_gets_a_confirmation_at_the_new_one(world: World) -> None:
    # Given a pending sign-up whose confirmation went to its first address
    source = make_source()
    world.send(source, {"email": "old@b.co", "first_name": "Ann"})
    assert len(world.opt_ins.published) == 1
    # When, within the resend interval, the member system moves it to a new address
    world.clock[0] = NOW + timedelta(minutes=5)
    world.send(source, {"type": "member.email_changed", "email": "new@b.co", "previous_email": "old@b.co"})
    # Then it stays pending at the new address, and a confirmation is requested for that address
    contact = world.only_contact()
    assert (contact.identity_key, contact.status) == ("EMAIL#new@b.co", SubscriptionStatus.PENDING)
    assert contact.opt_in_requested_at == NOW + timedelta(minutes=5)
    second = world.opt_ins.published[-1]
    assert (len(world.opt_ins.published), second.kind, second.contact_version) == (
        2,
        OptInKind.SUBSCRIPTION,
        contact.version,
    )


def test_a_subscribed_contact_moved_by_a_double_opt_in_source_confirms_the_new_address(world: World) -> None:
    # Given a contact who confirmed at their address
    source = make_source()
    world.send(source, {"email": "victim@b.co", "first_name": "Vic"})
    contact = world.only_contact()
    world.contacts.by_id[contact.contact_id] = contact.model_copy(
        update={"status": SubscriptionStatus.SUBSCRIBED, "lists": {}, "opt_in_requested_at": None}
    )
    # When a double opt-in source (a public form, say) moves it to another address
    world.send(
        source, {"type": "member.email_changed", "email": "other@y.co", "previous_email": "victim@b.co"}
    )
    # Then the new address is pending and asked to confirm; nothing is sent to it as a subscriber
    moved = world.only_contact()
    assert (moved.identity_key, moved.status) == ("EMAIL#other@y.co", SubscriptionStatus.PENDING)
    assert world.opt_ins.published[-1].kind is OptInKind.SUBSCRIPTION
    assert len(world.opt_ins.published) == 2


def test_a_subscribed_contact_moved_by_a_consent_on_file_source_stays_subscribed(world: World) -> None:
    # Given a contact subscribed with consent on file
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    world.send(source, {"email": "member@b.co", **evidence})
    # When the member system, which holds the consent record, moves it
    world.send(source, {"type": "member.email_changed", "email": "new@b.co", "previous_email": "member@b.co"})
    # Then it stays subscribed at the new address and nobody is mailed
    moved = world.only_contact()
    assert (moved.identity_key, moved.status) == ("EMAIL#new@b.co", SubscriptionStatus.SUBSCRIBED)
    assert world.opt_ins.published == []


def test_custom_fields_that_pile_up_over_requests_are_refused_before_the_contact_outgrows_its_item(
    world: World,
) -> None:
    # Given a contact that has gathered 100 custom fields, ten requests at a time
    source = make_source(ConsentMode.DATA_ONLY)
    for batch in range(10):
        world.send(source, {"email": "busy@b.co", **{f"field_{batch}_{n}": "x" for n in range(10)}})
    assert len(world.only_contact().profile.custom_attributes) == 100
    # When one more request brings new fields
    outcome = world.send(source, {"email": "busy@b.co", "order_123": "x"})
    # Then it is refused with a clear problem, and what is stored stays as it was
    assert [problem.path for problem in outcome.outcomes[0].problems] == ["custom_attributes"]
    assert len(world.only_contact().profile.custom_attributes) == 100
    # And an opt-out from that source is still stored
    world.send(source, {"email": "busy@b.co", "type": "contact.unsubscribed"})
    assert world.only_contact().status is SubscriptionStatus.UNSUBSCRIBED


def test_a_data_only_update_of_a_pending_contact_never_mails(world: World) -> None:
    # Given a sign-up that was never confirmed
    world.send(make_source(), {"email": "slow@b.co"})
    # When, days later, a data-only source (or an import) sends the same address again
    world.clock[0] = NOW + timedelta(days=3)
    world.send(make_source(ConsentMode.DATA_ONLY), {"email": "slow@b.co", "first_name": "Sam"})
    # Then the data is updated, the contact stays pending, and no second confirmation is asked for
    contact = world.only_contact()
    assert (contact.status, contact.profile.first_name) == (SubscriptionStatus.PENDING, "Sam")
    assert len(world.opt_ins.published) == 1


def test_an_email_change_keeps_both_addresses_opt_outs(world: World) -> None:
    # Given an opted-out contact, and an address that was erased (suppressed)
    source = make_source(ConsentMode.CONSENT_ON_FILE)
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    world.send(source, {"email": "out@b.co", **evidence}, {"email": "sub@b.co", **evidence})
    world.send(source, {"email": "out@b.co", "type": "contact.unsubscribed"})
    world.suppression.suppress("EMAIL#erased@b.co")
    # When the opted-out contact moves to a new address, and the subscribed one onto the erased address
    world.send(source, {"type": "member.email_changed", "email": "new@b.co", "previous_email": "out@b.co"})
    world.send(source, {"type": "member.email_changed", "email": "erased@b.co", "previous_email": "sub@b.co"})
    # Then the contact on the erased address is opted out,
    moved = world.contacts.find_by_identity("EMAIL#erased@b.co")
    assert moved is not None
    assert moved.status is SubscriptionStatus.UNSUBSCRIBED
    # and the address the opted-out contact left is not free to subscribe again
    world.send(source, {"email": "out@b.co", **evidence})
    again = world.contacts.find_by_identity("EMAIL#out@b.co")
    assert again is not None
    assert again.status is SubscriptionStatus.UNSUBSCRIBED


def test_an_email_change_onto_another_contacts_address_is_rejected(world: World) -> None:
    source = make_source(ConsentMode.DATA_ONLY)
    world.send(source, {"email": "one@b.co"}, {"email": "two@b.co"})
    outcome = world.send(
        source, {"type": "member.email_changed", "email": "two@b.co", "previous_email": "one@b.co"}
    )
    assert outcome.outcomes[0].problems[0].path == "email"


def test_cancelled_members_get_tagged_and_unknown_events_rejected(world: World) -> None:
    source = make_source(ConsentMode.DATA_ONLY)
    world.send(source, {"email": "a@b.co"})
    world.send(source, {"email": "a@b.co", "type": "member.cancelled"})
    assert world.only_contact().profile.tags == ("cancelled",)
    outcome = world.send(source, {"email": "a@b.co", "type": "member.teleported"})
    assert outcome.outcomes[0].problems[0].path == "type"


def test_newsletter_box_decides_for_sources_that_require_it(world: World) -> None:
    source = make_source(newsletter_field_required=True)
    world.send(source, {"email": "no@b.co", "newsletter": "non"}, {"email": "yes@b.co", "newsletter": "oui"})
    statuses = {c.profile.email: c.status for c in world.contacts.by_id.values()}
    assert statuses == {"no@b.co": SubscriptionStatus.NOT_SUBSCRIBED, "yes@b.co": SubscriptionStatus.PENDING}


def test_a_batch_is_partly_accepted_with_field_paths(world: World) -> None:
    outcome = world.send(make_source(), {"email": "nope"}, {"first_name": "No identity"}, {"email": "a@b.co"})
    assert [o.accepted for o in outcome.outcomes] == [False, False, True]
    assert outcome.outcomes[0].problems[0].path == "email"
    assert len(world.contacts.by_id) == 1


def test_bearer_token_authentication(world: World) -> None:
    request = InboundRequest("shop", {"authorization": f"Bearer {TOKEN}"}, "{}")
    assert world.use_case.authenticate(request).source_id == "shop"
    with pytest.raises(AuthenticationFailed):
        world.use_case.authenticate(InboundRequest("shop", {"authorization": "Bearer nope"}, "{}"))
    with pytest.raises(AuthenticationFailed):
        world.use_case.authenticate(InboundRequest("shop", {}, "{}"))
    with pytest.raises(SourceNotFound):
        world.use_case.authenticate(InboundRequest("elsewhere", {"authorization": f"Bearer {TOKEN}"}, "{}"))


def test_a_rotated_token_works_until_its_grace_period_ends(world: World) -> None:
    old = TokenHash(sha256=hash_token("old-token"), valid_until=NOW + timedelta(hours=1))
    world.use_case._deps.sources.put(make_source(token_hashes=(TokenHash(sha256=hash_token(TOKEN)), old)))
    assert world.use_case.authenticate(InboundRequest("shop", {"authorization": "Bearer old-token"}, "{}"))
    world.clock[0] = NOW + timedelta(hours=2)
    with pytest.raises(AuthenticationFailed):
        world.use_case.authenticate(InboundRequest("shop", {"authorization": "Bearer old-token"}, "{}"))


def test_standard_webhooks_signature_is_verified(world: World) -> None:
    world.use_case._deps.sources.put(make_source(source_id="signed", auth_mode=AuthMode.STANDARD_WEBHOOKS))
    body = json.dumps({"email": "a@b.co"})
    world.clock[0] = datetime.now(UTC)
    sent_at = datetime.now(UTC)
    signature = Webhook(SECRET).sign("msg_1", sent_at, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    assert world.use_case.authenticate(InboundRequest("signed", headers, body)).source_id == "signed"
    for broken in ({**headers, "webhook-signature": "v1,AAAA"}, {**headers, "webhook-timestamp": "1"}, {}):
        with pytest.raises(AuthenticationFailed):
            world.use_case.authenticate(InboundRequest("signed", broken, body))
    with pytest.raises(AuthenticationFailed):
        world.use_case.authenticate(InboundRequest("signed", headers, body.replace("a@b", "x@b")))


class CachedSigningSecrets:
    """A container's cached copy (read before a rotation) next to what is stored now."""

    def __init__(self, cached: list[str], stored: list[str]) -> None:
        self.cached, self.stored, self.fresh_reads = cached, stored, 0

    def secrets_for(self, source_id: str, now: datetime, *, fresh: bool = False) -> list[str]:
        self.fresh_reads += fresh
        return self.stored if fresh else self.cached


def test_a_signing_secret_rotated_after_the_cache_was_filled_is_accepted_at_once(world: World) -> None:
    # Given a container whose cached secrets predate a rotation to a new secret
    new_secret = "whsec_" + "b" * 32
    secrets = CachedSigningSecrets(cached=[SECRET], stored=[new_secret, SECRET])
    world.use_case._deps.signing_secrets = secrets
    world.use_case._deps.sources.put(make_source(source_id="signed", auth_mode=AuthMode.STANDARD_WEBHOOKS))
    body = json.dumps({"email": "a@b.co"})
    world.clock[0] = sent_at = datetime.now(UTC)

    def signed_by(secret: str) -> InboundRequest:
        headers = {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign("msg_1", sent_at, body),
        }
        return InboundRequest("signed", headers, body)

    # When the sender signs with the new secret / Then it is accepted after one fresh read
    assert world.use_case.authenticate(signed_by(new_secret)).source_id == "signed"
    assert secrets.fresh_reads == 1
    # And a request the cached secret verifies costs no fresh read
    world.use_case.authenticate(signed_by(SECRET))
    assert secrets.fresh_reads == 1
    # And a signature no stored secret verifies is still refused
    with pytest.raises(AuthenticationFailed):
        world.use_case.authenticate(signed_by("whsec_" + "c" * 32))


def test_over_the_rate_limit_is_refused(world: World) -> None:
    world.use_case._deps.sources.put(make_source(rate_limit_per_minute=2))
    request = InboundRequest("shop", {"authorization": f"Bearer {TOKEN}"}, "{}")
    world.use_case.authenticate(request)
    world.use_case.authenticate(request)
    with pytest.raises(RateLimited):
        world.use_case.authenticate(request)


def test_confirmation_mails_per_client_ip_are_capped_and_the_answer_does_not_change() -> None:
    # Given a public form that may send at most 2 confirmation mails an hour per client IP
    form = make_source(public_form=True)
    contacts, changes, opt_ins = InMemoryContacts(), RecordingPublisher(), RecordingOptIns()
    deps = in_memory_dependencies(
        sources=InMemorySources(form), contacts=contacts, changes=changes, opt_ins=opt_ins
    )
    use_case = IngestContacts(deps, limits=OptInLimits(per_ip_per_hour=2), clock=lambda: NOW)
    request = InboundRequest("shop", {}, "", client_ip="198.51.100.66", user_agent="bot")
    # When one client signs up five different addresses
    outcomes = [use_case.execute(form, [{"email": f"victim{n}@example.com"}], request) for n in range(5)]
    # Then every answer is the same, every contact is stored pending, and only two mails go out
    assert all(outcome.outcomes[0].accepted for outcome in outcomes)
    assert len(contacts.by_id) == 5
    assert len(opt_ins.published) == 2


def test_a_shops_server_sending_many_sign_ups_from_one_address_mails_every_one_of_them() -> None:
    # Given a shop's server (not a public form) whose webhooks all come from one IP, and a cap of 2
    shop = make_source()
    opt_ins = RecordingOptIns()
    deps = in_memory_dependencies(sources=InMemorySources(shop), opt_ins=opt_ins)
    use_case = IngestContacts(deps, limits=OptInLimits(per_ip_per_hour=2), clock=lambda: NOW)
    request = InboundRequest("shop", {}, "", client_ip="203.0.113.10", user_agent="shop-server")
    # When it sends thirty new sign-ups within the hour
    for n in range(30):
        use_case.execute(shop, [{"email": f"customer{n}@example.com"}], request)
    # Then each of them gets a confirmation mail (one a day per address still holds)
    assert len(opt_ins.published) == 30
