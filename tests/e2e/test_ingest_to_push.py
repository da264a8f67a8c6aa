"""The thin path through the running local stack: webhook in, DynamoDB Local, SQS, Push out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from contactsync.adapters.dynamodb_configuration import DynamoDestinationRepository
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.domain.contact import SubscriptionStatus
from contactsync.domain.destination import Destination, DestinationType
from contactsync_ops.stack_target import StackTarget, local_target
from tests.e2e.stack_client import StackClient, run_cli
from tests.e2e.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

SIGNING_SECRET = "whsec_" + "c2VjcmV0LWZvci1lMmUtdGVzdHMtb25seQ=="


@pytest.fixture(scope="module")
def target(local_stack: Any) -> StackTarget:
    return local_target(Path(local_stack.state_dir))


@pytest.fixture(scope="module")
def source_token(local_stack: Any) -> str:
    # Given a source registered the way an operator does it
    return StackClient(local_stack).add_source("e2e-shop", "--name", "E2E shop")


@pytest.fixture(scope="module")
def receiver(target: StackTarget) -> Iterator[WebhookReceiver]:
    # Given a signed-webhook destination whose secret is in Secrets Manager (moto)
    with WebhookReceiver(fail_marker="always-fails") as hooks:
        target.secrets_manager().put_secret_value(
            SecretId=target.destination_secret_id,
            SecretString=json.dumps({"e2e-hooks": {"signing_secret": SIGNING_SECRET}}),
        )
        DynamoDestinationRepository(target.dynamodb(), target.contacts_table).put(
            Destination(
                destination_id="e2e-hooks",
                type=DestinationType.SIGNED_WEBHOOK,
                url=hooks.url,  # type: ignore[arg-type]
                statuses=(
                    SubscriptionStatus.PENDING,
                    SubscriptionStatus.SUBSCRIBED,
                ),  # a CRM wants pending ones too
            )
        )
        yield hooks
        repository = DynamoDestinationRepository(target.dynamodb(), target.contacts_table)
        repository.put(repository.get("e2e-hooks").model_copy(update={"enabled": False}))  # type: ignore[union-attr]


def post_contact(local_stack: Any, token: str, payload: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{local_stack.api_url}/v1/sources/e2e-shop/contacts",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_posted_contact_is_stored_and_pushed_signed_to_the_destination(
    local_stack: Any, target: StackTarget, source_token: str, receiver: WebhookReceiver
) -> None:
    # When a tool posts a new contact
    response = post_contact(local_stack, source_token, {"email": "Grace@Example.com", "first_name": "Grace"})

    # Then it is accepted with one result
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert body["results"][0]["status"] == "accepted"

    # And it is stored in DynamoDB Local, pending confirmation
    stored = DynamoContactRepository(target.dynamodb(), target.contacts_table).find_by_identity(
        "EMAIL#grace@example.com"
    )
    assert stored is not None
    assert stored.contact_id == body["results"][0]["contact_id"]
    assert stored.status is SubscriptionStatus.PENDING

    # And the change travels through SQS to the Push function, which delivers it signed
    (hook,) = receiver.wait_for("Grace@example.com")
    Webhook(SIGNING_SECRET).verify(hook.body, hook.headers)
    assert hook.json()["type"] == "contact.created"
    assert hook.json()["data"]["first_name"] == "Grace"


def test_a_failing_push_is_retried_then_lands_in_the_dead_letter_queue(
    local_stack: Any, target: StackTarget, source_token: str, receiver: WebhookReceiver
) -> None:
    # Given a contact the destination always refuses with a 500
    response = post_contact(local_stack, source_token, {"email": "always-fails@example.com"})
    assert response.status_code == 202, response.text
    redrive = target.sqs().get_queue_attributes(
        QueueUrl=target.push_queue_url, AttributeNames=["RedrivePolicy"]
    )
    max_receives = int(json.loads(redrive["Attributes"]["RedrivePolicy"])["maxReceiveCount"])

    # When the Push function keeps failing it, SQS hands it back maxReceiveCount times
    # (each time with the session's own HTTP retries)
    receiver.wait_for("always-fails@example.com", count=max_receives, timeout=120)

    # Then the message ends in the dead-letter queue
    contact_id = response.json()["results"][0]["contact_id"]
    dead = wait_for_dead_letter(target, contact_id, timeout=120)
    assert json.loads(dead["Body"])["change"]["contact_id"] == contact_id
    attempts = len(receiver.for_email("always-fails@example.com"))

    # When a contact posted after that has been pushed (the Push poller went round again since)
    later = post_contact(local_stack, source_token, {"email": "after-dead-letter@example.com"})
    assert later.status_code == 202, later.text
    receiver.wait_for("after-dead-letter@example.com")

    # Then the dead-lettered change was not delivered again
    assert len(receiver.for_email("always-fails@example.com")) == attempts


def wait_for_dead_letter(target: StackTarget, contact_id: str, timeout: float) -> dict[str, Any]:
    """The dead letter of this contact's change (other tests may park theirs in the same queue)."""
    sqs = target.sqs()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=target.push_dead_letter_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=0,
        ).get("Messages", [])
        for message in messages:
            if contact_id in message["Body"]:
                return dict(message)
    raise AssertionError("the change did not reach the push dead-letter queue")


@pytest.mark.parametrize(
    ("auth", "content_type", "body", "status"),
    [
        (None, "application/json", '{"email": "a@b.co"}', 401),
        ("wrong", "application/json", '{"email": "a@b.co"}', 401),
        ("valid", "text/plain", "email a@b.co", 415),
        ("valid", "application/json", "{broken", 400),
        ("valid", "application/json", json.dumps({"email": "a@b.co", "note": "x" * 300_000}), 413),
        ("valid", "application/json", json.dumps({"contacts": []}), 422),
    ],
)
def test_bad_requests_get_clear_errors_and_store_nothing(
    local_stack: Any,
    target: StackTarget,
    source_token: str,
    auth: str | None,
    content_type: str,
    body: str,
    status: int,
) -> None:
    # Given a request that is wrong in one way
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = f"Bearer {source_token if auth == 'valid' else auth}"
    # When it is posted
    response = requests.post(
        f"{local_stack.api_url}/v1/sources/e2e-shop/contacts", data=body.encode(), headers=headers, timeout=30
    )
    # Then the answer names the problem, does not echo the address, and nothing is stored
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert "a@b.co" not in response.text
    assert (
        DynamoContactRepository(target.dynamodb(), target.contacts_table).find_by_identity("EMAIL#a@b.co")
        is None
    )


def test_unknown_source_is_404(local_stack: Any, source_token: str) -> None:
    response = requests.post(
        f"{local_stack.api_url}/v1/sources/nobody/contacts",
        json={"email": "a@b.co"},
        headers={"Authorization": f"Bearer {source_token}"},
        timeout=30,
    )
    assert response.status_code == 404
    assert response.json()["error"] == "source_not_found"


def test_opt_in_link_page_answers_in_french(local_stack: Any) -> None:
    response = requests.get(
        f"{local_stack.api_url}/v1/confirm/AAAAAAAAAAAAAAAAAAAAAAAA",
        headers={"Accept-Language": "fr-CA,fr;q=0.9"},
        timeout=30,
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Ce lien ne fonctionne plus" in response.text


def test_status_shows_the_running_stack(local_stack: Any) -> None:
    output = run_cli("status", "--state-dir", str(local_stack.state_dir))
    assert "PushQueue" in output
