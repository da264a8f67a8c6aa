"""Ingest under AWS faults, injected with the project's own botocore hook (no mocks, no patching).

DynamoDB Local and moto serve every call; a share of the *attempts* fail the way AWS
fails them, botocore retries as it would against AWS, and only what outlives those
retries reaches the product. What a sender sees: no 500; a 202 means stored; a 429 or
503 comes with a JSON body and Retry-After, and sending again (same Idempotency-Key)
completes the work; every stored contact's change reaches the push queue, and every
confirmation request the mail queue, once per contact version.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.domain.source import ConsentMode
from contactsync.models.queue_messages import OptInRequest, PushMessage
from contactsync_ops.fault_injection import FaultCounter, FaultPlan, install
from tests.integration.provisioned_stack import drain_queue
from tests.integration.test_function_handlers import (  # the handler harness, reused as it is
    clear_container_caches,
    header,
    ingest_event,
    invoke,  # noqa: F401 - fixture
    register_source,
    stack,  # noqa: F401 - fixture
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.integration.provisioned_stack import ProvisionedStack

    Invoke = Callable[[str, str, dict[str, Any]], dict[str, Any]]
    InjectFaults = Callable[[str], FaultCounter]

pytestmark = pytest.mark.integration

MAX_SENDS = 12  # a sender that keeps retrying; with 25% of attempts failing, far more than needed


@pytest.fixture
def inject_faults(stack: ProvisionedStack) -> Iterator[InjectFaults]:  # noqa: F811 - the imported fixture
    """Install a fault plan on a fresh default boto3 session: every client the handlers make gets it.

    The test's own clients (``stack.dynamodb``, ``stack.sqs``) are made before, so checks see the truth.
    """
    _ = (stack.dynamodb, stack.sqs, stack.secrets_manager)
    counters: list[FaultCounter] = []

    def start(plan: str) -> FaultCounter:
        boto3.setup_default_session()
        clear_container_caches()  # clients made from now on carry the hook
        counters.append(install(FaultPlan.parse(plan)))
        return counters[-1]

    yield start
    for counter in counters:
        counter.stop_injecting()
    boto3.setup_default_session()
    clear_container_caches()


def post(
    invoke: Invoke,  # noqa: F811
    source_id: str,
    token: str,
    contacts: list[dict[str, Any]],
    key: str,
    ip: str,
) -> Any:
    """One POST of a batch, from one client address, with an Idempotency-Key."""
    event = ingest_event(source_id, token, {"contacts": contacts})
    event["headers"]["Idempotency-Key"] = key
    event["multiValueHeaders"]["Idempotency-Key"] = [key]
    event["requestContext"]["identity"]["sourceIp"] = ip
    return invoke("IngestFunction", "ingest", event)


def send_until_accepted(
    invoke: Invoke,  # noqa: F811
    source_id: str,
    token: str,
    contacts: list[dict[str, Any]],
    ip: str,
    refusals: list[int],
) -> dict[str, Any]:
    """What a well-behaved sender does: post, and on 429/503/409 post the same again."""
    key = uuid.uuid4().hex
    for _ in range(MAX_SENDS):
        response = post(invoke, source_id, token, contacts, key, ip)
        status = response["statusCode"]
        assert status != 500, response.get("body")
        if status == 202:
            body: dict[str, Any] = json.loads(response["body"])
            return body
        # Then a refusal is one a sender can act on: JSON with a stable code, and when to come back
        assert status in {409, 429, 503}, response.get("body")
        assert header(response, "Content-Type") == "application/json"
        assert json.loads(response["body"])["error"] in {
            "request_in_progress",
            "throttled",
            "service_unavailable",
        }
        assert header(response, "Retry-After") is not None
        refusals.append(status)
    raise AssertionError(f"still refused after {MAX_SENDS} sends")


def new_contacts(count: int) -> list[dict[str, Any]]:
    return [{"email": f"f{uuid.uuid4().hex[:10]}@example.com", "first_name": "Grace"} for _ in range(count)]


def stored_by_email(stack: ProvisionedStack, emails: list[str]) -> dict[str, Any]:  # noqa: F811
    repository = DynamoContactRepository(stack.dynamodb, stack.contacts_table)
    found = repository.find_many_by_identity([f"EMAIL#{email}" for email in emails])
    return {key.removeprefix("EMAIL#"): contact for key, contact in found.items()}


def queued_versions(stack: ProvisionedStack, expected: int) -> list[tuple[str, int]]:  # noqa: F811
    messages = drain_queue(stack.sqs, stack.queue_url("PushQueue"), expected, max_polls=40)
    return [
        (push.change.contact_id, push.change.version)
        for push in (PushMessage.model_validate_json(m["Body"]) for m in messages)
    ]


def queued_mail_requests(stack: ProvisionedStack, expected: int) -> list[tuple[str, int]]:  # noqa: F811
    messages = drain_queue(stack.sqs, stack.queue_url("MailQueue"), expected, max_polls=40)
    return [
        (request.contact_id, request.contact_version)
        for request in (OptInRequest.model_validate_json(m["Body"]) for m in messages)
    ]


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_dynamodb_faults_on_a_quarter_of_attempts_lose_nothing_and_double_nothing(
    stack: ProvisionedStack,  # noqa: F811
    invoke: Invoke,  # noqa: F811
    inject_faults: InjectFaults,
) -> None:
    # Given a double opt-in source, and DynamoDB failing 25% of all attempts (throttling and 500s),
    # 60% of the contact writes' (TransactWriteItems), so that some faults outlive botocore's retries
    source_id = f"shop-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id)
    drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1000, max_polls=3)
    drain_queue(stack.sqs, stack.queue_url("MailQueue"), 1000, max_polls=3)
    counter = inject_faults("dynamodb=0.25,dynamodb.TransactWriteItems=0.6,seed=8")

    # When ten senders each post a batch of four new contacts, sending again when refused
    refusals: list[int] = []
    batches = [new_contacts(4) for _ in range(10)]
    answers = [
        send_until_accepted(invoke, source_id, token, batch, f"198.51.100.{n}", refusals)
        for n, batch in enumerate(batches, start=1)
    ]
    counter.stop_injecting()

    # Then faults did happen, and some reached the senders as 429/503 (never as 500)
    assert counter.counts().get("dynamodb", 0) >= 10
    assert refusals, "no fault outlived botocore's retries: the test proved nothing"

    # And every contact a 202 accepted is stored, once, under the id the answer gave
    emails = [contact["email"] for batch in batches for contact in batch]
    stored = stored_by_email(stack, emails)
    for batch, answer in zip(batches, answers, strict=True):
        assert answer["accepted"] == len(batch)
        for contact, result in zip(batch, answer["results"], strict=True):
            assert result["status"] == "accepted"
            assert stored[contact["email"]].contact_id == result["contact_id"]
    assert len({contact.contact_id for contact in stored.values()}) == len(emails)

    # And each stored version reached the push queue, and each confirmation request the mail queue
    expected = {(contact.contact_id, contact.version) for contact in stored.values()}
    assert set(queued_versions(stack, len(expected))) == expected
    assert set(queued_mail_requests(stack, len(expected))) == expected


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_a_batch_whose_second_transaction_fails_is_refused_and_its_retry_completes_it(
    stack: ProvisionedStack,  # noqa: F811
    invoke: Invoke,  # noqa: F811
    inject_faults: InjectFaults,
) -> None:
    # Given a data-only source, and a batch of 120 new contacts: three transactions of 50, 50 and 20
    source_id = f"crm-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id, ConsentMode.DATA_ONLY)
    drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1000, max_polls=3)
    batch = new_contacts(120)
    key = uuid.uuid4().hex

    # And the first transaction goes through while every attempt of the second fails
    # (seed 22 with a 90% share: the first draw passes, the next five fail)
    counter = inject_faults("dynamodb.TransactWriteItems=0.9,seed=22")
    response = post(invoke, source_id, token, batch, key, "192.0.2.1")
    counter.stop_injecting()

    # Then the request is refused as a whole, with a JSON error a sender can retry on
    assert counter.counts() == {"dynamodb": 5}
    assert response["statusCode"] in {429, 503}, response.get("body")
    assert json.loads(response["body"])["error"] in {"throttled", "service_unavailable"}
    # And the 50 contacts already written have their changes queued (a retry will find them unchanged)
    first_written = stored_by_email(stack, [contact["email"] for contact in batch])
    assert len(first_written) == 50
    assert set(queued_versions(stack, 50)) == {(c.contact_id, c.version) for c in first_written.values()}

    # When the sender sends the same request again (same Idempotency-Key)
    retried = post(invoke, source_id, token, batch, key, "192.0.2.1")

    # Then all 120 are accepted and stored, each once, and the other 70 changes are queued
    assert retried["statusCode"] == 202, retried.get("body")
    assert json.loads(retried["body"])["accepted"] == 120
    stored = stored_by_email(stack, [contact["email"] for contact in batch])
    assert len(stored) == 120
    rest = {(c.contact_id, c.version) for email, c in stored.items() if email not in first_written}
    assert set(queued_versions(stack, 70)) == rest
