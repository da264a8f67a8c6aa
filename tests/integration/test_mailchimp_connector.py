"""The Mailchimp connector against a Mailchimp-compatible server: what the audience holds afterwards."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import requests

from contactsync.adapters.http_sessions import retrying_session
from contactsync.adapters.mailchimp_connector import MailchimpConnector, subscriber_hash
from contactsync.domain.change import ChangeKind
from contactsync.domain.delivery import ItemResult, MemberStatus, OutboundItem
from contactsync.domain.destination import Destination, DestinationType, MailchimpSettings
from tests.doubles.mailchimp_server import BATCH, DELETE_PERMANENT, MEMBER, TAGS, MailchimpServer

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

API_KEY = "0123456789abcdef-us1"
LIST_ID = "audience1"
TIMEOUT = 2.0


@pytest.fixture
def mailchimp() -> Iterator[MailchimpServer]:
    with MailchimpServer(api_key=API_KEY, lists=(LIST_ID,)) as server:
        yield server


@pytest.fixture
def destination(mailchimp: MailchimpServer) -> Destination:
    return _destination(mailchimp)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    # Short backoff keeps the tests quick; Retry-After is honoured as in production.
    http = retrying_session(pool_size=10, backoff_factor=0.05, backoff_jitter=0.05)
    yield http
    http.close()


@pytest.fixture
def connector(session: requests.Session) -> MailchimpConnector:
    return MailchimpConnector(session, lambda _destination_id: API_KEY, timeout_seconds=TIMEOUT)


def _destination(server: MailchimpServer, status_if_new: str = "subscribed") -> Destination:
    return Destination(
        destination_id="newsletter",
        type=DestinationType.MAILCHIMP,
        mailchimp=MailchimpSettings.model_validate(
            {"api_url": server.url, "list_id": LIST_ID, "status_if_new": status_if_new}
        ),
        max_concurrency=10,
    )


def contact(
    number: int,
    email: str | None = None,
    status: MemberStatus = MemberStatus.SUBSCRIBED,
    kind: ChangeKind = ChangeKind.UPDATED,
    **extra: Any,
) -> OutboundItem:
    return OutboundItem(
        contact_id=f"c{number:05d}",
        version=extra.pop("version", 1),
        kind=kind,
        email=email if email is not None else f"person{number}@example.com",
        status=status,
        **extra,
    )


def _assert_ok(results: list[ItemResult]) -> None:
    failures = [result for result in results if not result.ok]
    assert failures == []


def test_one_new_contact_becomes_a_subscribed_member_with_its_merge_fields(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given a confirmed contact never pushed before
    ada = contact(1, "Ada@Example.com", fields={"FNAME": "Ada", "LNAME": "Lovelace"})

    # When it is delivered
    results = connector.deliver(destination, [ada])

    # Then the audience holds one subscribed member with the contact's names, in one call
    assert results == [ItemResult(contact_id="c00001", ok=True, remote_id=subscriber_hash("ada@example.com"))]
    member = mailchimp.member(LIST_ID, "ada@example.com")
    assert member is not None
    assert (member.email_address, member.status) == ("Ada@Example.com", "subscribed")
    assert member.merge_fields == {"FNAME": "Ada", "LNAME": "Lovelace"}
    assert mailchimp.call_count("PUT", MEMBER) == 1
    assert mailchimp.total_calls() == 1


def test_a_second_delivery_updates_the_same_member(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given a member already in the audience
    connector.deliver(destination, [contact(1, fields={"FNAME": "Ada"})])

    # When the contact's name changes and is delivered again (or the same message is replayed)
    first = connector.deliver(destination, [contact(1, version=2, fields={"FNAME": "Augusta"})])
    replay = connector.deliver(destination, [contact(1, version=2, fields={"FNAME": "Augusta"})])

    # Then there is still one member, holding the new name
    _assert_ok(first + replay)
    audience = mailchimp.members(LIST_ID)
    assert list(audience) == ["person1@example.com"]
    assert audience["person1@example.com"].merge_fields == {"FNAME": "Augusta"}


def test_a_backfill_of_1200_new_contacts_takes_three_batch_calls(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given 1,200 contacts the audience has never seen
    items = [contact(number, fields={"FNAME": f"P{number}"}) for number in range(1200)]

    # When they are delivered in one call
    results = connector.deliver(destination, items)

    # Then every one is a subscribed member, and it took three calls of at most 500 members
    _assert_ok(results)
    assert [result.contact_id for result in results] == [item.contact_id for item in items]
    assert all(
        result.remote_id == subscriber_hash(f"person{n}@example.com") for n, result in enumerate(results)
    )
    audience = mailchimp.members(LIST_ID)
    assert len(audience) == 1200
    assert {member.status for member in audience.values()} == {"subscribed"}
    assert audience["person700@example.com"].merge_fields == {"FNAME": "P700"}
    assert mailchimp.call_count("POST", BATCH) == 3
    assert mailchimp.total_calls() == 3


def test_a_batch_updates_existing_members_and_adds_tags_without_extra_calls(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given one of three contacts is already an unsubscribed member
    mailchimp.add_member(LIST_ID, "person2@example.com", status="unsubscribed", FNAME="Old")

    # When the three are delivered as subscribed, with tags
    items = [contact(n, fields={"FNAME": f"New{n}"}, tags=("shop",)) for n in (1, 2, 3)]
    results = connector.deliver(destination, items)

    # Then all three are subscribed members with their tag, in one call
    _assert_ok(results)
    audience = mailchimp.members(LIST_ID)
    assert {email: (m.status, m.merge_fields["FNAME"], m.tags) for email, m in audience.items()} == {
        "person1@example.com": ("subscribed", "New1", ["shop"]),
        "person2@example.com": ("subscribed", "New2", ["shop"]),
        "person3@example.com": ("subscribed", "New3", ["shop"]),
    }
    assert mailchimp.total_calls() == 1


def test_an_email_change_leaves_one_member_with_the_new_address(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given a subscribed member under the old address
    connector.deliver(destination, [contact(1, "old@example.com", fields={"FNAME": "Ada"})])

    # When the contact's address changes
    moved = contact(
        1,
        "new@example.com",
        kind=ChangeKind.EMAIL_CHANGED,
        version=2,
        previous_remote_id=subscriber_hash("old@example.com"),
        fields={"FNAME": "Ada"},
    )
    results = connector.deliver(destination, [moved])

    # Then the audience holds the same person once, under the new address only, still subscribed
    assert results == [ItemResult(contact_id="c00001", ok=True, remote_id=subscriber_hash("new@example.com"))]
    audience = mailchimp.members(LIST_ID)
    assert list(audience) == ["new@example.com"]
    assert (audience["new@example.com"].status, audience["new@example.com"].merge_fields) == (
        "subscribed",
        {"FNAME": "Ada"},
    )


def test_an_email_change_of_a_member_unknown_to_mailchimp_adds_the_new_address(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given the old member was removed in Mailchimp by hand
    moved = contact(
        1,
        "new@example.com",
        kind=ChangeKind.EMAIL_CHANGED,
        previous_remote_id=subscriber_hash("gone@example.com"),
    )

    # When the email change is delivered
    results = connector.deliver(destination, [moved])

    # Then the new address is a member
    _assert_ok(results)
    assert list(mailchimp.members(LIST_ID)) == ["new@example.com"]
    assert mailchimp.call_count("PUT", MEMBER) == 2


def test_an_unsubscribe_reaches_the_member(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given a subscribed member
    connector.deliver(destination, [contact(1)])

    # When the contact unsubscribes
    results = connector.deliver(
        destination,
        [contact(1, status=MemberStatus.UNSUBSCRIBED, kind=ChangeKind.UNSUBSCRIBED, version=2)],
    )

    # Then the member is unsubscribed, not deleted (Mailchimp keeps the opt-out)
    _assert_ok(results)
    member = mailchimp.member(LIST_ID, "person1@example.com")
    assert member is not None
    assert member.status == "unsubscribed"


def test_a_not_subscribed_contact_is_transactional_and_never_downgrades_a_subscriber(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given one subscribed member, and two contacts without marketing consent
    mailchimp.add_member(LIST_ID, "person1@example.com", status="subscribed")
    items = [contact(n, status=MemberStatus.NOT_SUBSCRIBED) for n in (1, 2)]

    # When they are delivered
    results = connector.deliver(destination, items)

    # Then the new one is transactional and the existing subscriber keeps its status
    _assert_ok(results)
    audience = mailchimp.members(LIST_ID)
    assert audience["person1@example.com"].status == "subscribed"
    assert audience["person2@example.com"].status == "transactional"


def test_an_audience_with_double_opt_in_gets_new_members_as_pending(
    mailchimp: MailchimpServer, connector: MailchimpConnector
) -> None:
    # Given an audience configured with status_if_new=pending
    destination = _destination(mailchimp, status_if_new="pending")

    # When two new contacts are delivered
    results = connector.deliver(destination, [contact(1), contact(2)])

    # Then Mailchimp holds them as pending (it sends its own confirmation)
    _assert_ok(results)
    assert {m.status for m in mailchimp.members(LIST_ID).values()} == {"pending"}


def test_an_erasure_deletes_the_member_permanently(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given a member
    connector.deliver(destination, [contact(1)])

    # When the contact is erased (twice: a replayed message)
    erasure = OutboundItem(
        contact_id="c00001",
        version=2,
        kind=ChangeKind.ERASED,
        previous_remote_id=subscriber_hash("person1@example.com"),
        status=MemberStatus.UNSUBSCRIBED,
        erase=True,
    )
    results = connector.deliver(destination, [erasure]) + connector.deliver(destination, [erasure])

    # Then the member is gone, can no longer be re-imported, and the replay counts as done
    assert [result.ok for result in results] == [True, True]
    assert mailchimp.members(LIST_ID) == {}
    assert mailchimp.call_count("POST", DELETE_PERMANENT) == 2
    again = connector.deliver(destination, [contact(1, version=3)])
    assert again[0].ok is False
    assert again[0].retryable is False
    assert again[0].reason == "Forgotten Email Not Subscribed"


def test_tags_are_added_to_a_single_member(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given a contact with two tags
    tagged = contact(1, tags=("vip", "shop"))

    # When it is delivered
    results = connector.deliver(destination, [tagged])

    # Then the member carries both tags
    _assert_ok(results)
    member = mailchimp.member(LIST_ID, "person1@example.com")
    assert member is not None
    assert member.tags == ["vip", "shop"]
    assert mailchimp.call_count("POST", TAGS) == 1


def test_a_429_with_a_short_retry_after_is_retried_in_the_same_delivery(
    mailchimp: MailchimpServer,
    destination: Destination,
    connector: MailchimpConnector,
    retry_waits: list[float],
) -> None:
    # Given Mailchimp answers the next call with 429 and Retry-After: 1
    mailchimp.fail_next(1, 429, retry_after=1)

    # When a contact is delivered
    results = connector.deliver(destination, [contact(1)])

    # Then the session waited the second Mailchimp asked for, tried again, and the member exists
    _assert_ok(results)
    assert retry_waits == [1]
    assert mailchimp.call_count("PUT", MEMBER) == 2
    assert mailchimp.member(LIST_ID, "person1@example.com") is not None


def test_a_429_with_a_long_retry_after_comes_back_as_retryable_with_its_delay(
    mailchimp: MailchimpServer,
    destination: Destination,
    connector: MailchimpConnector,
    retry_waits: list[float],
) -> None:
    # Given Mailchimp asks to wait a minute
    mailchimp.fail_next(1, 429, retry_after=60)

    # When a contact is delivered
    results = connector.deliver(destination, [contact(1)])

    # Then the Lambda does not sleep: the item is retryable after 60 s and nothing was written
    assert retry_waits == []
    assert results[0].ok is False
    assert results[0].retryable is True
    assert results[0].retry_after_seconds == 60
    assert mailchimp.call_count("PUT", MEMBER) == 1
    assert mailchimp.members(LIST_ID) == {}


def test_a_persistent_500_gives_a_retryable_result(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given Mailchimp fails every call for a while
    mailchimp.fail_next(10, 500)

    # When a contact is delivered
    results = connector.deliver(destination, [contact(1)])

    # Then, after the session's retries, the item is retryable and the queue will bring it back
    assert results[0].ok is False
    assert results[0].retryable is True
    assert results[0].reason == "Injected Failure"
    assert mailchimp.call_count("PUT", MEMBER) == 4  # the first try and three retries


def test_a_dropped_connection_is_retried_then_reported_as_retryable(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given Mailchimp drops one connection, then drops every connection
    mailchimp.drop_next(1)
    recovered = connector.deliver(destination, [contact(1)])
    mailchimp.drop_next(10)
    lost = connector.deliver(destination, [contact(2)])

    # Then the first delivery succeeded on retry, and the second is retryable
    _assert_ok(recovered)
    assert lost[0].ok is False
    assert lost[0].retryable is True
    assert list(mailchimp.members(LIST_ID)) == ["person1@example.com"]


def test_a_slow_answer_times_out_and_the_retry_succeeds_without_a_duplicate(
    mailchimp: MailchimpServer, destination: Destination, session: requests.Session
) -> None:
    # Given a short timeout and a first answer slower than it
    connector = MailchimpConnector(session, lambda _destination_id: API_KEY, timeout_seconds=0.3)
    mailchimp.slow_next(1, 0.8)

    # When a contact is delivered
    results = connector.deliver(destination, [contact(1)])

    # Then the retry succeeds and the audience holds the member once
    _assert_ok(results)
    assert list(mailchimp.members(LIST_ID)) == ["person1@example.com"]


def test_one_invalid_member_in_a_batch_fails_alone_without_its_address_in_the_reason(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given three contacts, one with an address Mailchimp rejects
    items = [contact(1), contact(2, "not-an-address"), contact(3)]

    # When they are delivered
    results = connector.deliver(destination, items)

    # Then the bad one is a permanent failure with Mailchimp's code, and the others are members
    assert [result.ok for result in results] == [True, False, True]
    assert results[1].retryable is False
    assert results[1].reason == "ERROR_GENERIC"
    assert sorted(mailchimp.members(LIST_ID)) == ["person1@example.com", "person3@example.com"]


def test_a_wrong_api_key_fails_every_item_permanently_and_writes_nothing(
    mailchimp: MailchimpServer, destination: Destination, session: requests.Session
) -> None:
    # Given the destination's secret holds a wrong key
    connector = MailchimpConnector(session, lambda _destination_id: "wrong-us1", timeout_seconds=TIMEOUT)

    # When a single contact and a batch are delivered
    results = connector.deliver(destination, [contact(1)]) + connector.deliver(
        destination, [contact(2), contact(3)]
    )

    # Then every item fails permanently with Mailchimp's reason, and the audience is empty
    assert {(r.ok, r.retryable, r.reason) for r in results} == {(False, False, "API Key Invalid")}
    assert mailchimp.members(LIST_ID) == {}


def test_a_mixed_batch_answers_one_result_per_item_in_order(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given an audience with two members
    connector.deliver(destination, [contact(1, "leaving@example.com"), contact(2, "moving@example.com")])
    erasure = OutboundItem(
        contact_id="c00001",
        version=2,
        kind=ChangeKind.ERASED,
        previous_remote_id=subscriber_hash("leaving@example.com"),
        status=MemberStatus.UNSUBSCRIBED,
        erase=True,
    )
    move = contact(
        2, "moved@example.com", version=2, previous_remote_id=subscriber_hash("moving@example.com")
    )

    # When an erasure, an email change and three new contacts arrive in one call
    items = [contact(3), erasure, contact(4), move, contact(5, status=MemberStatus.UNSUBSCRIBED)]
    results = connector.deliver(destination, items)

    # Then each item has its result in order, and the audience shows all five changes
    _assert_ok(results)
    assert [result.contact_id for result in results] == ["c00003", "c00001", "c00004", "c00002", "c00005"]
    audience = mailchimp.members(LIST_ID)
    assert {email: member.status for email, member in audience.items()} == {
        "moved@example.com": "subscribed",
        "person3@example.com": "subscribed",
        "person4@example.com": "subscribed",
        "person5@example.com": "unsubscribed",
    }
    assert mailchimp.call_count("POST", BATCH) == 2  # the seeding and this call


def test_twenty_threads_never_hold_more_than_ten_connections(
    mailchimp: MailchimpServer, destination: Destination, connector: MailchimpConnector
) -> None:
    # Given slow answers, so that deliveries overlap
    mailchimp.slow_next(20, 0.2)
    results: list[ItemResult] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def deliver(number: int) -> None:
        start.wait()
        answer = connector.deliver(destination, [contact(number)])
        with lock:
            results.extend(answer)

    # When 20 threads deliver at once through one connector
    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then every contact arrived and Mailchimp never saw more than 10 connections
    _assert_ok(results)
    assert len(mailchimp.members(LIST_ID)) == 20
    assert 1 < mailchimp.peak_connections <= 10
    assert mailchimp.refused_connections == 0


def test_the_double_refuses_an_eleventh_connection(mailchimp: MailchimpServer) -> None:
    # Given 20 clients that do not share a bounded pool
    mailchimp.slow_next(20, 0.3)
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def put(number: int) -> None:
        address = f"person{number}@example.com"
        start.wait()
        with requests.Session() as own:
            response = own.put(
                f"{mailchimp.url}/lists/{LIST_ID}/members/{subscriber_hash(address)}",
                json={"email_address": address, "status_if_new": "subscribed"},
                auth=("any", API_KEY),
                timeout=10,
            )
        with lock:
            statuses.append(response.status_code)

    # When they all call at once
    threads = [threading.Thread(target=put, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then the connections over ten get 429, as from Mailchimp
    assert 429 in statuses
    assert mailchimp.peak_connections > 10
