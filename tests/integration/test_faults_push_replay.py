"""A Push batch half processed when the function dies, then replayed by SQS: no duplicates, no stale data.

Contacts, destinations and push states live in DynamoDB Local; the audience is the
Mailchimp double. The function "dies" inside the destination call: half the items
reached Mailchimp, then the process is gone (a ``BaseException`` nothing in the
product catches), so nothing after that line ran. SQS then hands the same batch over
again, as it does when a function never answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import requests

from contactsync.adapters.dynamodb_configuration import DynamoDestinationRepository
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.dynamodb_push_states import DynamoPushStates
from contactsync.adapters.http_sessions import retrying_session
from contactsync.adapters.mailchimp_connector import MailchimpConnector
from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.contact import Contact, ContactProfile, SubscriptionStatus
from contactsync.domain.delivery import DestinationConnector, ItemResult, OutboundItem
from contactsync.domain.destination import Destination, DestinationType, MailchimpSettings
from contactsync.models.queue_messages import PushMessage
from contactsync.use_cases.deliver_changes import DeliverChanges, Verdict
from tests.doubles.mailchimp_server import MailchimpServer
from tests.integration.provisioned_stack import ProvisionedStack, provision_for_module

if TYPE_CHECKING:
    from collections.abc import Iterator

    from contactsync_ops.local_stack.endpoints import LocalEndpoints

pytestmark = pytest.mark.integration

API_KEY = "test-key-us21"
LIST_ID = "members"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FunctionKilled(BaseException):
    """The Lambda process ending mid-call (timeout, out of memory): no handler runs after it."""


class RecordingConnector:
    """The real Mailchimp connector, noting which (email, version) each call carried."""

    def __init__(self, connector: MailchimpConnector) -> None:
        self._connector = connector
        self.sent: list[tuple[str, int]] = []

    def deliver(self, destination: Destination, items: Sequence[OutboundItem]) -> list[ItemResult]:
        self.sent.extend((item.email or "", item.version) for item in items)
        return self._connector.deliver(destination, items)


class DiesAfterHalf:
    """Delivers the first half of the items for real, then the function is killed."""

    def __init__(self, connector: RecordingConnector) -> None:
        self._connector = connector

    def deliver(self, destination: Destination, items: Sequence[OutboundItem]) -> list[ItemResult]:
        self._connector.deliver(destination, items[: len(items) // 2])
        raise FunctionKilled


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "pushreplay")


@pytest.fixture
def mailchimp() -> Iterator[MailchimpServer]:
    with MailchimpServer(api_key=API_KEY, lists=(LIST_ID,)) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    http = retrying_session(pool_size=2, backoff_factor=0.05, backoff_jitter=0.05)
    yield http
    http.close()


def push(stack: ProvisionedStack, connector: DestinationConnector) -> DeliverChanges:
    """The Push function's use case on DynamoDB Local, with ``connector`` for Mailchimp."""
    return DeliverChanges(
        contacts=DynamoContactRepository(stack.dynamodb, stack.contacts_table),
        destinations=DynamoDestinationRepository(stack.dynamodb, stack.contacts_table),
        push_states=DynamoPushStates(stack.dynamodb, stack.contacts_table),
        connectors={DestinationType.MAILCHIMP: connector},
    )


def store_contacts(stack: ProvisionedStack, count: int) -> list[Contact]:
    repository = DynamoContactRepository(stack.dynamodb, stack.contacts_table)
    contacts = []
    for _ in range(count):
        cid = uuid.uuid4().hex
        contact = Contact(
            contact_id=cid,
            identity_key=f"EMAIL#{cid}@example.com",
            profile=ContactProfile(email=f"{cid}@example.com", first_name="Ada"),
            status=SubscriptionStatus.SUBSCRIBED,
            source_id="crm",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        assert repository.create(contact)
        contacts.append(contact)
    return contacts


def sqs_batch(contacts: Sequence[Contact]) -> dict[str, PushMessage]:
    """Push messages by SQS message id, one per contact at its current version."""
    return {
        f"msg-{contact.contact_id}-{contact.version}": PushMessage(
            change=ContactChange(
                contact_id=contact.contact_id,
                version=contact.version,
                kind=ChangeKind.UPDATED,
                occurred_at=NOW,
            )
        )
        for contact in contacts
    }


def test_a_batch_replayed_after_the_function_died_halfway_sends_nothing_twice_and_nothing_stale(
    stack: ProvisionedStack, mailchimp: MailchimpServer, session: requests.Session
) -> None:
    # Given a Mailchimp destination (the only one in this stack) and ten subscribed contacts, queued
    DynamoDestinationRepository(stack.dynamodb, stack.contacts_table).put(
        Destination(
            destination_id="newsletter",
            type=DestinationType.MAILCHIMP,
            mailchimp=MailchimpSettings.model_validate({"api_url": mailchimp.url, "list_id": LIST_ID}),
        )
    )
    recorder = RecordingConnector(MailchimpConnector(session, lambda _: API_KEY, timeout_seconds=2.0))
    contacts = store_contacts(stack, 10)
    batch = sqs_batch(contacts)

    # When the Push function dies after half of the batch reached Mailchimp
    with pytest.raises(FunctionKilled):
        push(stack, DiesAfterHalf(recorder)).deliver(batch)
    in_flight = {email for email, _ in recorder.sent}
    assert len(in_flight) == 5
    assert len(mailchimp.members(LIST_ID)) == 5

    # And SQS hands the same batch to a new container
    report = push(stack, recorder).deliver(batch)

    # Then every change is delivered and the audience holds each contact once, with its data
    assert {verdict.verdict for verdict in report.verdicts.values()} == {Verdict.DELIVERED}
    audience = mailchimp.members(LIST_ID)
    assert set(audience) == {contact.profile.email for contact in contacts}
    assert {member.merge_fields.get("FNAME") for member in audience.values()} == {"Ada"}
    # And only what was in flight when it died went out again, at the same version (at least once,
    # never a different version); everything else went out once
    sends: dict[str, list[int]] = {}
    for email, version in recorder.sent:
        sends.setdefault(email, []).append(version)
    assert all(sends[email] == ([1, 1] if email in in_flight else [1]) for email in audience)

    # When three contacts change (version 2) and that is pushed
    repository = DynamoContactRepository(stack.dynamodb, stack.contacts_table)
    renamed = [
        contact.with_profile(contact.profile.model_copy(update={"first_name": "Grace"}), NOW)
        for contact in contacts[:3]
    ]
    for contact in renamed:
        assert repository.update(contact, expected_version=1)
    push(stack, recorder).deliver(sqs_batch(renamed))
    calls_before_stale_replay = mailchimp.total_calls()
    sent_before_stale_replay = len(recorder.sent)

    # And SQS redelivers the old version-1 batch once more (a late duplicate)
    stale = push(stack, recorder).deliver(batch)

    # Then nothing is sent: no stale overwrite, no duplicate, and the audience keeps the newer data
    assert {verdict.verdict for verdict in stale.verdicts.values()} == {Verdict.DELIVERED}
    assert mailchimp.total_calls() == calls_before_stale_replay
    assert len(recorder.sent) == sent_before_stale_replay
    audience = mailchimp.members(LIST_ID)
    for contact in renamed:
        assert audience[contact.profile.email or ""].merge_fields.get("FNAME") == "Grace"
    # And per member the versions sent never go down
    versions: dict[str, list[int]] = {}
    for email, version in recorder.sent:
        versions.setdefault(email, []).append(version)
    assert all(sequence == sorted(sequence) for sequence in versions.values())
