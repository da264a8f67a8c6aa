"""The SQS publishers and the source signing secrets against moto, on the resources of template.yaml."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.adapters.sqs_change_publisher import SqsChangePublisher, SqsOptInRequestPublisher
from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.subscription_rules import OptInKind
from contactsync.models.queue_messages import OptInRequest, PushMessage
from tests.integration.provisioned_stack import ProvisionedStack, drain_queue, provision_for_module

if TYPE_CHECKING:
    from contactsync_ops.local_stack.endpoints import LocalEndpoints

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "queues")


def counted_sqs_client(stack: ProvisionedStack) -> tuple[Any, list[int]]:
    """A fresh SQS client, and the number of entries of each SendMessageBatch call it makes."""
    client = stack.endpoints.sqs_client()
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["Entries"]))

    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", count)
    return client, calls


# --------------------------------------------------------------------------- queues


def test_25_changes_arrive_as_25_push_messages(stack: ProvisionedStack) -> None:
    # Given 25 changes and a publisher on the push queue
    client, calls = counted_sqs_client(stack)
    publisher = SqsChangePublisher(client, stack.queue_url("PushQueue"))
    changes = [
        ContactChange(contact_id=uuid.uuid4().hex, version=i + 1, kind=ChangeKind.CREATED, occurred_at=AT)
        for i in range(25)
    ]

    # When they are published
    publisher.publish(changes)

    # Then 25 messages are on the push queue, each a PushMessage with one of the changes
    messages = drain_queue(stack.sqs, stack.queue_url("PushQueue"), expected=25)
    received = [PushMessage.model_validate_json(m["Body"]).change for m in messages]
    assert len(received) == 25
    assert sorted(received, key=lambda c: c.version) == changes
    # And they went out in batches of at most 10: ceil(25 / 10) SendMessageBatch calls
    assert len(calls) == math.ceil(25 / 10)
    assert calls == [10, 10, 5]


def test_25_opt_in_requests_arrive_on_the_mail_queue(stack: ProvisionedStack) -> None:
    # Given 25 confirmation requests and a publisher on the mail queue
    client, calls = counted_sqs_client(stack)
    publisher = SqsOptInRequestPublisher(client, stack.queue_url("MailQueue"))
    requests = [
        OptInRequest(
            contact_id=uuid.uuid4().hex,
            contact_version=1,
            kind=OptInKind.SUBSCRIPTION,
            source_id="shop",
            requested_at=AT + timedelta(seconds=i),
            request_ip="203.0.113.10",
            user_agent="Zapier",
        )
        for i in range(25)
    ]

    # When they are published
    publisher.publish(requests)

    # Then the mail queue holds 25 OptInRequest messages, the push queue none
    messages = drain_queue(stack.sqs, stack.queue_url("MailQueue"), expected=25)
    received = [OptInRequest.model_validate_json(m["Body"]) for m in messages]
    assert sorted(received, key=lambda r: r.requested_at) == requests
    assert len(calls) == math.ceil(25 / 10)
    assert drain_queue(stack.sqs, stack.queue_url("PushQueue"), expected=1, max_polls=1) == []


def test_publishing_nothing_sends_nothing(stack: ProvisionedStack) -> None:
    # Given a publisher / When it publishes no change / Then no call is made
    client, calls = counted_sqs_client(stack)
    SqsChangePublisher(client, stack.queue_url("PushQueue")).publish([])
    assert calls == []


# --------------------------------------------------------------------------- signing secrets


def reader(stack: ProvisionedStack) -> SecretsManagerSourceSigningSecrets:
    """A fresh adapter: Powertools caches the secret per provider for a minute, like a warm container."""
    return SecretsManagerSourceSigningSecrets(
        stack.endpoints.secrets_manager_client(), stack.secret_id("SourceSigningSecret")
    )


def test_a_new_source_secret_is_valid(stack: ProvisionedStack) -> None:
    # Given the template's source signing secret (with its bootstrap value)
    writer = reader(stack)

    # When a first secret is added for a source
    writer.add_secret("shop", "whsec_first", previous_valid_until=None, now=AT)

    # Then it is the source's one valid secret and other sources have none
    assert reader(stack).secrets_for("shop", AT) == ["whsec_first"]
    assert reader(stack).secrets_for("web-form", AT) == []
    # And the stored secret is the documented JSON object keyed by source id
    raw = stack.secrets_manager.get_secret_value(SecretId=stack.secret_id("SourceSigningSecret"))
    assert json.loads(raw["SecretString"])["shop"] == [{"secret": "whsec_first", "valid_until": None}]


def test_rotation_keeps_the_old_secret_for_the_grace_period(stack: ProvisionedStack) -> None:
    # Given a source with a secret
    writer = reader(stack)
    writer.add_secret("crm", "whsec_old", previous_valid_until=None, now=AT)

    # When it is rotated with a grace period of 24 hours
    grace_end = AT + timedelta(hours=24)
    writer.add_secret("crm", "whsec_new", previous_valid_until=grace_end, now=AT)

    # Then both are valid during the grace period, and only the new one from its end on
    assert reader(stack).secrets_for("crm", AT + timedelta(hours=1)) == ["whsec_new", "whsec_old"]
    assert reader(stack).secrets_for("crm", grace_end - timedelta(seconds=1)) == ["whsec_new", "whsec_old"]
    assert reader(stack).secrets_for("crm", grace_end) == ["whsec_new"]
    assert reader(stack).secrets_for("crm", grace_end + timedelta(days=30)) == ["whsec_new"]


def test_rotation_without_grace_retires_the_old_secret_at_once(stack: ProvisionedStack) -> None:
    # Given a source with a secret
    writer = reader(stack)
    writer.add_secret("zapier", "whsec_leaked", previous_valid_until=None, now=AT)

    # When it is rotated without a grace period (e.g. the secret leaked)
    writer.add_secret("zapier", "whsec_clean", previous_valid_until=None, now=AT)

    # Then only the new secret is valid
    assert reader(stack).secrets_for("zapier", AT) == ["whsec_clean"]


def test_a_second_rotation_keeps_the_first_grace_period(stack: ProvisionedStack) -> None:
    # Given a source rotated once with a 24-hour grace period (s1 valid until AT+24h)
    writer = reader(stack)
    writer.add_secret("members", "whsec_s1", previous_valid_until=None, now=AT)
    writer.add_secret("members", "whsec_s2", previous_valid_until=AT + timedelta(hours=24), now=AT)

    # When it is rotated again an hour later, with a 48-hour grace period for s2
    writer.add_secret(
        "members", "whsec_s3", previous_valid_until=AT + timedelta(hours=49), now=AT + timedelta(hours=1)
    )

    # Then a sender still on s1 keeps working until s1's own grace period ends, as promised at the first
    # rotation (the bearer-token rotation in ManageSources keeps still-valid old tokens the same way)
    valid_two_hours_in = reader(stack).secrets_for("members", AT + timedelta(hours=2))
    assert "whsec_s1" in valid_two_hours_in
    assert "whsec_s1" not in reader(stack).secrets_for("members", AT + timedelta(hours=24))


def test_a_rotation_drops_old_secrets_whose_grace_period_has_ended(stack: ProvisionedStack) -> None:
    # Given a source rotated with a 24-hour grace period
    writer = reader(stack)
    writer.add_secret("events", "whsec_e1", previous_valid_until=None, now=AT)
    writer.add_secret("events", "whsec_e2", previous_valid_until=AT + timedelta(hours=24), now=AT)

    # When it is rotated again two days later (the rotation's clock, not the machine's, decides)
    two_days_later = AT + timedelta(days=2)
    writer.add_secret("events", "whsec_e3", previous_valid_until=AT + timedelta(days=3), now=two_days_later)

    # Then the stored document no longer holds the secret whose grace period ended
    raw = stack.secrets_manager.get_secret_value(SecretId=stack.secret_id("SourceSigningSecret"))
    stored = [entry["secret"] for entry in json.loads(raw["SecretString"])["events"]]
    assert stored == ["whsec_e3", "whsec_e2"]
