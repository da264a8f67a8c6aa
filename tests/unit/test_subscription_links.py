"""The confirmation and unsubscribe links with in-memory ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from contactsync.domain.change import ChangeKind
from contactsync.domain.consent_ledger import ConsentEventType
from contactsync.domain.contact import Contact, ContactProfile, SubscriptionStatus
from contactsync.domain.opt_in_tokens import LinkToken, TokenPurpose, address_digest, token_digest
from contactsync.domain.source import Source
from contactsync.use_cases.subscription_links import (
    LinkDependencies,
    LinkPage,
    SubscriptionLinks,
    Visitor,
    allowed_redirect,
)
from tests.unit.fakes import (
    InMemoryContacts,
    InMemorySources,
    InMemorySuppression,
    InMemoryTokens,
    InMemoryTransactions,
    RecordingOptIns,
    RecordingPublisher,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VISITOR = Visitor(ip="198.51.100.7", user_agent="Firefox")


@dataclass
class World:
    links: SubscriptionLinks
    contacts: InMemoryContacts
    tokens: InMemoryTokens
    transactions: InMemoryTransactions
    changes: RecordingPublisher
    suppression: InMemorySuppression
    clock: list[datetime]

    def add_contact(self, status: SubscriptionStatus = SubscriptionStatus.PENDING) -> Contact:
        contact = Contact(
            contact_id="c1",
            identity_key="EMAIL#a@b.co",
            profile=ContactProfile(email="a@b.co", first_name="Ann", language="fr"),
            status=status,
            lists={"news": status},
            source_id="form",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        self.contacts.create(contact)
        return contact

    def add_token(
        self,
        raw: str,
        purpose: TokenPurpose = TokenPurpose.CONFIRM,
        expires_in: timedelta | None = timedelta(days=7),
        sent_to: str = "EMAIL#a@b.co",
    ) -> None:
        self.tokens.issue(
            LinkToken(
                digest=token_digest(raw),
                purpose=purpose,
                contact_id="c1",
                source_id="form",
                language="fr",
                bound_version=1,
                address_digest=address_digest(sent_to),
                created_at=NOW,
                expires_at=NOW + expires_in if expires_in else None,
            )
        )


@pytest.fixture
def world() -> World:
    contacts, tokens = InMemoryContacts(), InMemoryTokens()
    transactions = InMemoryTransactions(contacts, tokens)
    changes, suppression = RecordingPublisher(), InMemorySuppression()
    source = Source(
        source_id="form",
        name="Form",
        created_at=NOW,
        confirmed_redirect_url="https://shop.example/thanks",
        redirect_allow_list=("https://shop.example/",),
    )
    deps = LinkDependencies(
        contacts=contacts,
        sources=InMemorySources(source),
        tokens=tokens,
        transactions=transactions,
        changes=changes,
        opt_ins=RecordingOptIns(),
        suppression=suppression,
    )
    clock = [NOW]
    links = SubscriptionLinks(deps, default_organisation="Org", clock=lambda: clock[0])
    return World(links, contacts, tokens, transactions, changes, suppression, clock)


def test_viewing_changes_nothing_and_confirming_subscribes_with_proof(world: World) -> None:
    world.add_contact()
    world.add_token("confirm-token-0123456789")
    assert world.links.view_confirmation("confirm-token-0123456789").page is LinkPage.CONFIRM
    assert world.contacts.by_id["c1"].status is SubscriptionStatus.PENDING
    outcome = world.links.confirm("confirm-token-0123456789", VISITOR)
    assert outcome.page is LinkPage.CONFIRMED
    assert outcome.redirect_url == "https://shop.example/thanks"
    contact = world.contacts.by_id["c1"]
    assert contact.status is SubscriptionStatus.SUBSCRIBED
    assert contact.lists == {"news": SubscriptionStatus.SUBSCRIBED}
    (event,) = world.transactions.events
    assert (event.type, event.ip, event.user_agent) == (ConsentEventType.CONFIRMED, "198.51.100.7", "Firefox")
    assert [c.kind for c in world.changes.published] == [ChangeKind.CONFIRMED]


def test_a_used_or_expired_or_unknown_link_is_invalid(world: World) -> None:
    world.add_contact()
    world.add_token("confirm-token-0123456789")
    world.links.confirm("confirm-token-0123456789", VISITOR)
    assert world.links.confirm("confirm-token-0123456789", VISITOR).page is LinkPage.INVALID
    world.contacts.by_id["c1"] = world.contacts.by_id["c1"].model_copy(
        update={"status": SubscriptionStatus.PENDING}
    )
    world.add_token("later-token-0123456789", expires_in=timedelta(days=7))
    world.clock[0] = NOW + timedelta(days=8)
    assert world.links.view_confirmation("later-token-0123456789").page is LinkPage.INVALID
    assert world.links.confirm("later-token-0123456789", VISITOR).page is LinkPage.INVALID
    assert world.links.confirm("never-issued-0123456789", VISITOR).page is LinkPage.INVALID


def test_an_unsubscribe_link_cannot_confirm_and_a_confirm_link_cannot_unsubscribe(world: World) -> None:
    world.add_contact()
    world.add_token("unsub-token-0123456789", TokenPurpose.UNSUBSCRIBE, expires_in=None)
    world.add_token("confirm-token-0123456789")
    assert world.links.confirm("unsub-token-0123456789", VISITOR).page is LinkPage.INVALID
    assert (
        world.links.unsubscribe("confirm-token-0123456789", VISITOR, one_click=False).page is LinkPage.INVALID
    )


def test_unsubscribe_is_immediate_global_and_recorded(world: World) -> None:
    world.add_contact(SubscriptionStatus.SUBSCRIBED)
    world.add_token("unsub-token-0123456789", TokenPurpose.UNSUBSCRIBE, expires_in=None)
    outcome = world.links.unsubscribe("unsub-token-0123456789", VISITOR, one_click=True)
    assert (outcome.page, outcome.language) == (LinkPage.UNSUBSCRIBED, "fr")
    assert world.contacts.by_id["c1"].status is SubscriptionStatus.UNSUBSCRIBED
    assert world.suppression.is_suppressed("EMAIL#a@b.co")
    assert world.transactions.events[-1].type is ConsentEventType.WITHDRAWN
    assert "one-click" in (world.transactions.events[-1].method or "")
    # A second click is harmless
    assert (
        world.links.unsubscribe("unsub-token-0123456789", VISITOR, one_click=False).page
        is LinkPage.UNSUBSCRIBED
    )


def test_a_confirm_link_from_before_an_opt_out_does_not_resubscribe(world: World) -> None:
    world.add_contact(SubscriptionStatus.UNSUBSCRIBED)
    world.add_token("confirm-token-0123456789")
    assert world.links.confirm("confirm-token-0123456789", VISITOR).page is LinkPage.INVALID


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        ("https://shop.example/thanks", ("https://shop.example/",), "https://shop.example/thanks"),
        ("https://shop.example.evil.com/x", ("https://shop.example",), None),
        ("https://evil.example/", ("https://shop.example/",), None),
        ("https://shop.example/thanks", (), None),
    ],
)
def test_redirects_only_to_the_allow_list(url: str, allowed: tuple[str, ...], expected: str | None) -> None:
    source = Source(
        source_id="form", name="F", created_at=NOW, confirmed_redirect_url=url, redirect_allow_list=allowed
    )
    assert allowed_redirect(source) == expected


def test_a_confirm_link_stops_working_once_the_contact_moved_to_another_address(world: World) -> None:
    # Given a pending contact and the confirm link mailed to its address
    contact = world.add_contact()
    world.add_token("confirm-token-0123456789", sent_to="EMAIL#a@b.co")
    # When the contact moves to another address before the link is used
    moved = contact.model_copy(
        update={
            "identity_key": "EMAIL#new@b.co",
            "profile": contact.profile.model_copy(update={"email": "new@b.co"}),
            "version": 2,
        }
    )
    assert world.contacts.move_identity(moved, "EMAIL#a@b.co", expected_version=1)
    # Then the old address's link neither shows the Confirm button nor confirms anything
    assert world.links.view_confirmation("confirm-token-0123456789").page is LinkPage.INVALID
    assert world.links.confirm("confirm-token-0123456789", VISITOR).page is LinkPage.INVALID
    assert world.contacts.by_id["c1"].status is SubscriptionStatus.PENDING
    assert world.transactions.events == []
    assert world.changes.published == []
