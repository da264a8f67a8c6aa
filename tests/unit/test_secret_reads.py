"""Secrets Manager failing behind Powertools' parameters: a typed 503, and Push retries only what it hit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pytest
import requests

from contactsync.adapters.destination_credentials import SecretsManagerDestinationCredentials
from contactsync.adapters.secret_values import CachedSecret, JsonSecretValues
from contactsync.adapters.signed_webhook import SignedWebhookConnector
from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.domain.destination import Destination, DestinationType
from contactsync.errors import ConfigurationError, ServiceUnavailable
from contactsync.use_cases.deliver_changes import DeliverChanges, Verdict
from tests.unit.fakes import InMemoryContacts, StaticDestinations
from tests.unit.test_deliver_changes import InMemoryPushStates, ScriptedConnector, contact, message

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class UnreachableSecretsManager:
    """Every read fails the way an outage or a denied call does (Powertools wraps it in GetParameterError)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_secret_value(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise ConnectionError("secretsmanager endpoint unreachable")


def unreachable() -> SecretsManagerClient:
    return cast("SecretsManagerClient", UnreachableSecretsManager())


def test_source_signing_secrets_that_cannot_be_read_are_a_503() -> None:
    # Given Secrets Manager cannot be reached
    secrets = SecretsManagerSourceSigningSecrets(unreachable(), "source-secrets")
    # When a signed request's source secrets are read
    with pytest.raises(ServiceUnavailable) as failed:
        secrets.secrets_for("shop", NOW)
    # Then the caller is told to retry (503), without the secret's name or the SDK's text
    assert (failed.value.status, failed.value.code) == (503, "service_unavailable")
    assert failed.value.message == "the source signing secrets could not be read"


def test_a_cached_secret_that_cannot_be_read_is_a_503() -> None:
    # Given Secrets Manager cannot be reached
    secret = CachedSecret(unreachable(), "suppression-key")
    # When the secret is read
    with pytest.raises(ServiceUnavailable) as failed:
        secret()
    # Then it is a typed 503, not a Powertools error (500)
    assert failed.value.status == 503
    assert failed.value.message == "a required secret could not be read"


def test_push_retries_a_webhook_whose_signing_secret_cannot_be_read_and_delivers_the_rest() -> None:
    # Given a signed webhook whose signing secret cannot be read, and a Mailchimp destination that works
    webhook = Destination(
        destination_id="hook", type=DestinationType.SIGNED_WEBHOOK, url="https://hooks.example.com/in"
    )  # type: ignore[arg-type]
    mailchimp = Destination(
        destination_id="mc", type=DestinationType.MAILCHIMP,
        mailchimp={"api_url": "https://us1.api.mailchimp.com/3.0", "list_id": "L"},  # type: ignore[arg-type]
    )  # fmt: skip
    store = InMemoryContacts()
    store.create(contact("a"))
    states, working = InMemoryPushStates(), ScriptedConnector()
    signed = SignedWebhookConnector(
        requests.Session(), SecretsManagerDestinationCredentials(unreachable(), "credentials"), 5
    )
    use_case = DeliverChanges(
        store,
        StaticDestinations(webhook, mailchimp),
        states,
        {DestinationType.SIGNED_WEBHOOK: signed, DestinationType.MAILCHIMP: working},
        clock=lambda: NOW,
    )
    # When the batch is delivered
    report = use_case.deliver({"m1": message("a")})
    # Then the message comes back later for the webhook, with the reason, instead of failing the batch,
    verdict = report.verdicts["m1"]
    assert verdict.verdict is Verdict.RETRY
    assert verdict.reasons == ["hook: the destination credentials could not be read"]
    # and Mailchimp got the contact (its state is saved, so the retry sends only to the webhook)
    assert [item.contact_id for item in working.received] == ["a"]
    assert states.states[("a", "mc")].pushed_version == 1


class CountingSecretsManager:
    """Serves one signing-secrets document and counts the reads."""

    def __init__(self) -> None:
        self.calls = 0

    def get_secret_value(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {"SecretString": '{"shop": [{"secret": "whsec_one", "valid_until": null}]}'}


def test_fresh_signing_secret_reads_are_at_most_one_a_second_per_source() -> None:
    # Given the adapter over a counting client, its cache filled, and a clock it reads
    client = CountingSecretsManager()
    clock = [100.0]
    secrets = SecretsManagerSourceSigningSecrets(
        cast("SecretsManagerClient", client), "source-secrets", monotonic=lambda: clock[0]
    )
    assert secrets.secrets_for("shop", NOW) == ["whsec_one"]
    # When a burst of failing signatures asks for fresh reads within a second
    for _ in range(5):
        secrets.secrets_for("shop", NOW, fresh=True)
    # Then Secrets Manager was read once more, not five times
    assert client.calls == 2
    # And once a second has passed, a fresh read goes through again
    clock[0] += 1.0
    secrets.secrets_for("shop", NOW, fresh=True)
    assert client.calls == 3


class ChangingSecretsManager:
    """A JSON secret the operator changes between reads; counts the reads."""

    def __init__(self, document: str) -> None:
        self.document, self.calls = document, 0

    def get_secret_value(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {"SecretString": self.document}


def test_an_import_token_added_after_the_cache_was_filled_is_found_at_once() -> None:
    # Given a container that has read the job tokens
    client = ChangingSecretsManager('{"crm": "token-1"}')
    values = JsonSecretValues(cast("SecretsManagerClient", client), "job-secrets")
    assert values.value("crm") == "token-1"
    # When the operator adds a job with a new token name
    client.document = '{"crm": "token-1", "members": "token-2"}'
    # Then the next run finds it without waiting for the cache to expire
    assert values.value("members") == "token-2"
    assert client.calls == 2
    # And a name that is nowhere is a configuration error naming it
    with pytest.raises(ConfigurationError, match="no value named shop"):
        values.value("shop")
