"""Push decisions with in-memory ports: what reaches a destination, and what each message's verdict is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.contact import Contact, ContactProfile, SubscriptionStatus
from contactsync.domain.delivery import ItemResult, MemberStatus, OutboundItem
from contactsync.domain.destination import Destination, DestinationType
from contactsync.domain.push_state import PushState
from contactsync.models.queue_messages import PushMessage
from contactsync.use_cases.deliver_changes import DeliverChanges, Verdict
from tests.unit.fakes import InMemoryContacts, StaticDestinations

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class InMemoryPushStates:
    def __init__(self) -> None:
        self.states: dict[tuple[str, str], PushState] = {}

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], PushState]:
        return {key: self.states[key] for key in keys if key in self.states}

    def for_contact(self, contact_id: str) -> list[PushState]:
        return [s for (cid, _), s in self.states.items() if cid == contact_id]

    def save_many(self, states: Sequence[PushState]) -> None:
        for state in states:
            self.states[(state.contact_id, state.destination_id)] = state

    def delete(self, contact_id: str, destination_id: str) -> None:
        self.states.pop((contact_id, destination_id), None)


class ScriptedConnector:
    """Answers each item as told: ok, retryable or permanent."""

    def __init__(self) -> None:
        self.received: list[OutboundItem] = []
        self.answer: dict[str, ItemResult] = {}

    def deliver(self, destination: object, items: Sequence[OutboundItem]) -> list[ItemResult]:
        self.received.extend(items)
        return [
            self.answer.get(
                item.contact_id,
                ItemResult(contact_id=item.contact_id, ok=True, remote_id=f"r-{item.contact_id}"),
            )
            for item in items
        ]


def contact(
    cid: str, status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED, version: int = 1, name: str = "Ann"
) -> Contact:
    return Contact(
        contact_id=cid,
        identity_key=f"EMAIL#{cid}@b.co",
        profile=ContactProfile(email=f"{cid}@b.co", first_name=name),
        status=status,
        source_id="crm",
        version=version,
        created_at=NOW,
        updated_at=NOW,
    )


def message(cid: str, version: int = 1, origin: str | None = None) -> PushMessage:
    return PushMessage(
        change=ContactChange(
            contact_id=cid, version=version, kind=ChangeKind.UPDATED, occurred_at=NOW, origin_source_id=origin
        )
    )


def setup(
    *contacts: Contact, linked_source: str | None = None
) -> tuple[DeliverChanges, ScriptedConnector, InMemoryPushStates, InMemoryContacts]:
    store = InMemoryContacts()
    for c in contacts:
        store.create(c)
    connector, states = ScriptedConnector(), InMemoryPushStates()
    destination = Destination(
        destination_id="mc", type=DestinationType.MAILCHIMP, linked_source_id=linked_source,
        mailchimp={"api_url": "https://us1.api.mailchimp.com/3.0", "list_id": "L"},  # type: ignore[arg-type]
    )  # fmt: skip
    use_case = DeliverChanges(
        store,
        StaticDestinations(destination),
        states,
        {DestinationType.MAILCHIMP: connector},
        clock=lambda: NOW,
    )
    return use_case, connector, states, store


def test_a_replay_sends_nothing_twice() -> None:
    use_case, connector, _, _ = setup(contact("a"))
    first = use_case.deliver({"m1": message("a")})
    again = use_case.deliver({"m2": message("a")})
    assert first.verdicts["m1"].verdict is Verdict.DELIVERED
    assert again.verdicts["m2"].verdict is Verdict.DELIVERED
    assert len(connector.received) == 1


def test_an_older_version_never_overwrites_a_newer_one() -> None:
    use_case, connector, _, _ = setup(contact("a", version=3, name="New"))
    use_case.deliver({"m3": message("a", version=3)})
    use_case.deliver({"m1": message("a", version=1)})  # a late, older message
    assert [item.fields.get("FNAME") for item in connector.received] == ["New"]


def test_several_changes_of_one_contact_in_a_batch_are_one_push_of_its_current_state() -> None:
    use_case, connector, _, _ = setup(contact("a", version=2, name="Latest"))
    report = use_case.deliver({"m1": message("a", 1), "m2": message("a", 2)})
    assert len(connector.received) == 1
    assert {v.verdict for v in report.verdicts.values()} == {Verdict.DELIVERED}


def test_an_opted_out_contact_is_never_sent_as_subscribed_and_a_known_one_is_told_to_stop() -> None:
    use_case, connector, _, store = setup(contact("never", SubscriptionStatus.UNSUBSCRIBED), contact("known"))
    use_case.deliver({"m1": message("never"), "m2": message("known")})
    store.by_id["known"] = store.by_id["known"].model_copy(
        update={"status": SubscriptionStatus.UNSUBSCRIBED, "version": 2}
    )
    use_case.deliver({"m3": message("known", 2)})
    assert [(i.contact_id, i.status) for i in connector.received] == [
        ("known", MemberStatus.SUBSCRIBED),
        ("known", MemberStatus.UNSUBSCRIBED),
    ]


def test_an_erased_contact_is_deleted_where_it_was_pushed_then_forgotten() -> None:
    use_case, connector, states, store = setup(contact("a"))
    use_case.deliver({"m1": message("a")})
    store.erase(store.by_id["a"])
    use_case.deliver(
        {
            "m2": PushMessage(
                change=ContactChange(contact_id="a", version=2, kind=ChangeKind.ERASED, occurred_at=NOW)
            )
        }
    )
    erase = connector.received[-1]
    assert (erase.erase, erase.previous_remote_id) == (True, "r-a")
    assert states.states == {}


def test_retryable_and_permanent_failures_get_their_verdicts() -> None:
    use_case, connector, states, _ = setup(contact("slow"), contact("bad"), contact("fine"))
    connector.answer = {
        "slow": ItemResult(
            contact_id="slow", ok=False, retryable=True, reason="HTTP 503", retry_after_seconds=20
        ),
        "bad": ItemResult(contact_id="bad", ok=False, retryable=False, reason="Invalid Resource"),
    }
    report = use_case.deliver({"m1": message("slow"), "m2": message("bad"), "m3": message("fine")})
    assert (report.verdicts["m1"].verdict, report.verdicts["m1"].retry_after_seconds) == (Verdict.RETRY, 20)
    assert report.verdicts["m2"].verdict is Verdict.DEAD
    assert report.verdicts["m2"].reasons == ["mc: Invalid Resource"]
    assert report.verdicts["m3"].verdict is Verdict.DELIVERED
    assert states.states[("bad", "mc")].last_error == "Invalid Resource"


def test_a_change_from_a_linked_source_is_not_echoed_back() -> None:
    use_case, connector, _, _ = setup(contact("a"), linked_source="crm")
    use_case.deliver({"m1": message("a", origin="crm")})
    assert connector.received == []
    use_case.deliver({"m2": message("a", origin="shop")})
    assert len(connector.received) == 1
