"""SQS refusing every send: stored changes wait in the outbox, and the Sync tick delivers them once.

The ingest use case is the Ingest function's own (``contactsync.wiring``), its publishers
wrapped by the outbox (``use_cases.held_messages``), on the
product's own clients (``adapters.aws_clients``) with the fault hook on boto3's
default session: every SendMessageBatch attempt fails, and botocore retries each.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from contactsync import wiring
from contactsync.adapters import aws_clients
from contactsync.adapters.dynamodb_outbox import DynamoOutbox
from contactsync.adapters.sqs_change_publisher import SqsChangePublisher, SqsOptInRequestPublisher
from contactsync.domain.source import ConsentMode
from contactsync.use_cases.held_messages import RelayHeldMessages
from contactsync.use_cases.ingest_contacts import InboundRequest, IngestContacts
from tests.integration.provisioned_stack import ProvisionedStack, drain_queue, provision_for_module
from tests.integration.test_faults_ingest import (
    inject_faults,  # noqa: F401 - fixture
    new_contacts,
    post,
    queued_mail_requests,
    queued_versions,
    stored_by_email,
)
from tests.integration.test_function_handlers import (
    clear_container_caches,
    invoke,  # noqa: F401 - fixture
    register_source,
)
from tests.sample_events import load_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from contactsync_ops.local_stack.endpoints import LocalEndpoints
    from tests.integration.test_faults_ingest import InjectFaults, Invoke

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "outbox")


@pytest.fixture
def ingest_with_outbox(
    stack: ProvisionedStack, aws_local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[], tuple[IngestContacts, DynamoOutbox]]:
    """The Ingest function's use case as ``contactsync.wiring`` builds it, and the outbox it holds in.

    Called after the faults are installed, so the clients it makes carry the hook.
    """

    def build() -> tuple[IngestContacts, DynamoOutbox]:
        for name, value in stack.function_environment("IngestFunction").items():
            monkeypatch.setenv(name, value)
        clear_container_caches()
        return wiring.ingest_contacts(), DynamoOutbox(aws_clients.dynamodb_client(), stack.contacts_table)

    return build


def sync_tick_relay(stack: ProvisionedStack) -> RelayHeldMessages:
    """The Sync tick's outbox step, on bare queue publishers."""
    sqs = aws_clients.sqs_client()
    return RelayHeldMessages(
        DynamoOutbox(aws_clients.dynamodb_client(), stack.contacts_table),
        SqsChangePublisher(sqs, stack.queue_url("PushQueue")),
        SqsOptInRequestPublisher(sqs, stack.queue_url("MailQueue")),
    )


def bearer_request(source_id: str, token: str) -> InboundRequest:
    """What the Ingest function hands the use case for a request with the source's bearer token."""
    return InboundRequest(
        source_id=source_id, headers={"authorization": f"Bearer {token}"}, raw_body="", client_ip=None
    )


def test_with_sqs_down_changes_wait_in_the_outbox_and_the_sync_tick_delivers_them_once(
    stack: ProvisionedStack,
    ingest_with_outbox: Callable[[], tuple[IngestContacts, DynamoOutbox]],
    inject_faults: InjectFaults,  # noqa: F811
) -> None:
    # Given a double opt-in source, and SQS refusing every send attempt
    source_id = f"form-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id)
    counter = inject_faults("sqs=1")
    ingest, outbox = ingest_with_outbox()

    # When two requests of five new contacts arrive
    batches = [new_contacts(5), new_contacts(5)]
    for batch in batches:
        request = bearer_request(source_id, token)
        outcome = ingest.execute(ingest.authenticate(request), batch, request)

        # Then each is accepted (the Ingest function answers 202): the work is stored and will be delivered
        assert all(item.accepted for item in outcome.outcomes)
    assert counter.counts()["sqs"] >= 2 * 5  # every attempt of both sends, each retried by botocore

    # And every contact is stored, nothing reached the queues, and the outbox holds each message once
    emails = [contact["email"] for batch in batches for contact in batch]
    stored = stored_by_email(stack, emails)
    assert len(stored) == 10
    assert drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1, max_polls=2) == []
    versions = {(contact.contact_id, contact.version) for contact in stored.values()}
    held = outbox.held()
    assert {(m.push.change.contact_id, m.push.change.version) for m in held if m.push} == versions
    assert {(m.opt_in.contact_id, m.opt_in.contact_version) for m in held if m.opt_in} == versions
    assert len(held) == 20

    # When the same requests are sent again while SQS is still down: nothing new to queue or hold
    for batch in batches:
        request = bearer_request(source_id, token)
        ingest.execute(ingest.authenticate(request), batch, request)
    assert len(outbox.held()) == 20

    # When SQS works again and the Sync tick runs
    counter.stop_injecting()
    report = sync_tick_relay(stack).execute()

    # Then every change reached the push queue and every confirmation request the mail queue, once
    assert (report.queued, report.still_held) == (20, 0)
    assert sorted(queued_versions(stack, 10)) == sorted(versions)
    assert sorted(queued_mail_requests(stack, 10)) == sorted(versions)
    # And the outbox is empty: the next tick sends nothing
    assert outbox.held() == []
    assert sync_tick_relay(stack).execute().queued == 0
    assert drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1, max_polls=2) == []


def test_messages_that_fail_again_stay_held_for_the_next_tick(
    stack: ProvisionedStack,
    ingest_with_outbox: Callable[[], tuple[IngestContacts, DynamoOutbox]],
    inject_faults: InjectFaults,  # noqa: F811
) -> None:
    # Given an outbox holding one change, because SQS refused it
    source_id = f"form-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id)
    counter = inject_faults("sqs=1")
    ingest, outbox = ingest_with_outbox()
    request = bearer_request(source_id, token)
    ingest.execute(ingest.authenticate(request), new_contacts(1), request)
    assert len(outbox.held()) == 2

    # When the Sync tick runs while SQS still refuses
    report = sync_tick_relay(stack).execute()

    # Then nothing is lost: both messages are still held
    assert (report.queued, report.still_held) == (0, 2)
    assert len(outbox.held()) == 2
    counter.stop_injecting()
    assert sync_tick_relay(stack).execute().queued == 2


def test_when_sqs_takes_one_batch_and_refuses_the_next_only_the_refused_changes_are_held(
    stack: ProvisionedStack,
    ingest_with_outbox: Callable[[], tuple[IngestContacts, DynamoOutbox]],
    inject_faults: InjectFaults,  # noqa: F811
) -> None:
    # Given a data-only source (changes, no mails) and twelve new contacts: two SendMessageBatch calls
    source_id = f"crm-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id, ConsentMode.DATA_ONLY)
    drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1000, max_polls=3)
    # And SQS takes the first batch, then refuses every attempt of the second
    # (seed 15 with a 90% share: the first draw passes, the next five fail)
    counter = inject_faults("sqs.SendMessageBatch=0.9,seed=15")
    ingest, outbox = ingest_with_outbox()

    # When the twelve arrive in one request
    contacts = new_contacts(12)
    request = bearer_request(source_id, token)
    outcome = ingest.execute(ingest.authenticate(request), contacts, request)
    counter.stop_injecting()

    # Then all are accepted; ten changes are on the push queue and only the other two are held
    assert all(item.accepted for item in outcome.outcomes)
    assert counter.counts() == {"sqs": 5}
    stored = stored_by_email(stack, [contact["email"] for contact in contacts])
    versions = {(contact.contact_id, contact.version) for contact in stored.values()}
    first = set(queued_versions(stack, 10))
    held = {(m.push.change.contact_id, m.push.change.version) for m in outbox.held() if m.push}
    assert len(first) == 10
    assert len(held) == 2
    assert first | held == versions

    # And the Sync tick queues those two, so each change is on the queue exactly once
    assert sync_tick_relay(stack).execute().queued == 2
    assert set(queued_versions(stack, 2)) == held


def test_through_the_functions_sqs_down_means_202_then_the_sync_tick_queues_the_held_messages(
    stack: ProvisionedStack,
    invoke: Invoke,  # noqa: F811
    inject_faults: InjectFaults,  # noqa: F811
) -> None:
    # Given the Ingest and Sync functions as deployed (their wiring), empty queues, SQS refusing every send
    for queue in ("PushQueue", "MailQueue"):
        drain_queue(stack.sqs, stack.queue_url(queue), 10_000, max_polls=3)  # what earlier tests left
    source_id = f"form-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id)
    counter = inject_faults("sqs=1")

    # When a double opt-in form posts three new contacts to the Ingest function
    contacts = new_contacts(3)
    response = post(invoke, source_id, token, contacts, key=uuid.uuid4().hex, ip="198.51.100.7")

    # Then the sender gets 202, and nothing reached the queues yet
    assert response["statusCode"] == 202, response.get("body")
    assert drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1, max_polls=2) == []

    # When SQS works again and the schedule ticks the Sync function
    counter.stop_injecting()
    report = invoke("SyncFunction", "sync", load_event("sync_scheduled"))

    # Then the tick queued the three changes and the three confirmation requests, once each
    assert report["held_messages_queued"] == 6
    versions = {
        (c.contact_id, c.version) for c in stored_by_email(stack, [c["email"] for c in contacts]).values()
    }
    assert sorted(queued_versions(stack, 3)) == sorted(versions)
    assert sorted(queued_mail_requests(stack, 3)) == sorted(versions)
