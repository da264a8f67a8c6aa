"""The five handlers invoked in-process with each trigger's sample event, on the stack from template.yaml.

Each handler gets the environment template.yaml gives its function (resolved to this module's
resources) plus boto3's endpoint variables, and is loaded from functions/<name>/app.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

import contactsync.adapters.aws_clients
import contactsync.settings
import contactsync.wiring
from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.domain.contact import SubscriptionStatus
from contactsync.domain.source import ConsentMode
from contactsync.models.queue_messages import OptInRequest, PushMessage
from contactsync.use_cases.manage_sources import ManageSources, SourceSettings
from tests.integration.provisioned_stack import (
    FakeLambdaContext,
    ProvisionedStack,
    drain_queue,
    load_handler_module,
    provision_for_module,
)
from tests.sample_events import api_event, load_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from contactsync_ops.local_stack.endpoints import LocalEndpoints

    Invoke = Callable[[str, str, dict[str, Any]], dict[str, Any]]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "handlers")


def clear_container_caches() -> None:
    """Forget settings, clients and use cases, as a new Lambda container would."""
    contactsync.settings.get_settings.cache_clear()
    for module in (contactsync.wiring, contactsync.adapters.aws_clients):
        for value in vars(module).values():
            if callable(value) and hasattr(value, "cache_clear"):
                value.cache_clear()


@pytest.fixture
def invoke(
    stack: ProvisionedStack, aws_local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Invoke]:
    """Call ``functions/<dir>/app.py``'s handler with the function's environment from template.yaml."""
    loaded: dict[str, Any] = {}

    def call(logical_id: str, function_dir: str, event: dict[str, Any]) -> dict[str, Any]:
        for name, value in stack.function_environment(logical_id).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        clear_container_caches()
        from contactsync.observability import metrics  # after the environment is set

        if metrics.provider.namespace is None:  # imported earlier in this process, without the variable
            monkeypatch.setattr(
                metrics.provider,
                "namespace",
                stack.function_environment(logical_id)["POWERTOOLS_METRICS_NAMESPACE"],
            )
        if function_dir not in loaded:
            loaded[function_dir] = load_handler_module(function_dir)
        result: dict[str, Any] = loaded[function_dir].lambda_handler(event, FakeLambdaContext())
        return result

    yield call
    clear_container_caches()


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header, whether Powertools put it in headers or multiValueHeaders."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return str(values[0])
    return None


def register_source(
    stack: ProvisionedStack, source_id: str, consent_mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN
) -> str:
    """Register a source (double opt-in unless told) with a bearer token as the CLI does; its token."""
    manage = ManageSources(
        DynamoSourceRepository(stack.dynamodb, stack.contacts_table),
        SecretsManagerSourceSigningSecrets(stack.secrets_manager, stack.secret_id("SourceSigningSecret")),
    )
    return manage.register(source_id, SourceSettings(name=source_id, consent_mode=consent_mode)).credential


def ingest_event(source_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = dict(load_event("ingest_post_contacts")["headers"])
    headers["Authorization"] = f"Bearer {token}"
    return api_event(
        "ingest_post_contacts",
        path_parameters={"source_id": source_id},
        headers=headers,
        body=json.dumps(body),
    )


# --------------------------------------------------------------------------- Ingest


def test_ingest_accepts_a_contact_from_a_registered_source(stack: ProvisionedStack, invoke: Invoke) -> None:
    # Given a registered double opt-in source and its bearer token
    source_id = f"shop-{uuid.uuid4().hex[:8]}"
    token = register_source(stack, source_id)
    email = f"ada.{uuid.uuid4().hex[:8]}@example.com"

    # When the sample webhook is posted with that token and a new address
    response = invoke(
        "IngestFunction",
        "ingest",
        ingest_event(source_id, token, {"email": email, "first_name": "Ada", "last_name": "Lovelace"}),
    )

    # Then it answers 202 with one accepted contact
    assert response["statusCode"] == 202, response.get("body")
    assert header(response, "Content-Type") == "application/json"
    body = json.loads(response["body"])
    assert (body["accepted"], body["rejected"]) == (1, 0)
    contact_id = body["results"][0]["contact_id"]

    # And the contact is stored under its email, pending its confirmation
    stored = DynamoContactRepository(stack.dynamodb, stack.contacts_table).find_by_identity(f"EMAIL#{email}")
    assert stored is not None
    assert stored.contact_id == contact_id
    assert stored.source_id == source_id
    assert stored.profile.first_name == "Ada"
    assert stored.status is SubscriptionStatus.PENDING

    # And its change is queued for Push and its confirmation mail for Mail
    pushed = [
        PushMessage.model_validate_json(m["Body"])
        for m in drain_queue(stack.sqs, stack.queue_url("PushQueue"), 1)
    ]
    assert [m.change.contact_id for m in pushed] == [contact_id]
    mails = [
        OptInRequest.model_validate_json(m["Body"])
        for m in drain_queue(stack.sqs, stack.queue_url("MailQueue"), 1)
    ]
    assert [(m.contact_id, m.source_id) for m in mails] == [(contact_id, source_id)]


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_ingest_refuses_a_wrong_token(stack: ProvisionedStack, invoke: Invoke) -> None:
    # Given a registered source
    source_id = f"shop-{uuid.uuid4().hex[:8]}"
    register_source(stack, source_id)
    email = f"mallory.{uuid.uuid4().hex[:8]}@example.com"

    # When a webhook arrives with another token
    response = invoke("IngestFunction", "ingest", ingest_event(source_id, "not-the-token", {"email": email}))

    # Then it answers 401 and stores nothing
    assert response["statusCode"] == 401
    repository = DynamoContactRepository(stack.dynamodb, stack.contacts_table)
    assert repository.find_by_identity(f"EMAIL#{email}") is None


# --------------------------------------------------------------------------- Sync


def test_sync_reports_the_scheduled_tick(invoke: Invoke) -> None:
    # Given the sample EventBridge schedule event and no import jobs configured
    event = load_event("sync_scheduled")

    # When the Sync function handles it
    report = invoke("SyncFunction", "sync", event)

    # Then it reports the tick's time and that no job was started
    assert report == {
        "tick": datetime(2026, 11, 23, 12, 0, tzinfo=UTC).isoformat(),
        "jobs_configured": 0,
        "jobs_started": 0,
        "consents_lapsed": 0,
    }


def test_sync_drops_a_slice_of_a_run_that_is_gone(invoke: Invoke, stack: ProvisionedStack) -> None:
    # Given the sample sync-queue batch: a slice of a run this stack does not hold (ended and expired)
    event = load_event("sync_sqs_run_slice")

    # When the Sync function handles it
    response = invoke("SyncFunction", "sync", event)

    # Then the message is done (not retried) and no next slice is queued for it
    assert response == {"batchItemFailures": []}
    assert drain_queue(stack.sqs, stack.queue_url("SyncQueue"), expected=1) == []


# --------------------------------------------------------------------------- Push


def test_push_dead_letters_the_unreadable_record_at_once(invoke: Invoke, stack: ProvisionedStack) -> None:
    # Given the sample SQS batch whose first record's body is not JSON; the second is a change for a
    # contact that does not exist (erased): nothing to deliver, not a failure
    event = load_event("push_sqs_batch")
    broken = event["Records"][0]
    broken["body"] = "this is not json {"

    # When the Push function handles the batch
    response = invoke("PushFunction", "push", event)

    # Then nothing is retried: the unreadable record can never succeed, so it goes to the DLQ with its reason
    assert response == {"batchItemFailures": []}
    dead = stack.sqs.receive_message(
        QueueUrl=stack.queue_url("PushDeadLetterQueue"),
        MessageAttributeNames=["All"],
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
    )["Messages"]
    # ... and it alone: the change for the erased contact is done, not dead-lettered
    assert [message["Body"] for message in dead] == ["this is not json {"]
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"] == "not a contact change message"


# --------------------------------------------------------------------------- OptIn


@pytest.mark.parametrize(
    "sample", ["optin_get_confirm", "optin_post_confirm", "optin_get_unsubscribe", "optin_post_unsubscribe"]
)
def test_optin_page_of_an_unknown_token_is_a_404_html_page(invoke: Invoke, sample: str) -> None:
    # Given a sample confirmation or unsubscribe request (page or button), whose token was never issued
    event = load_event(sample)

    # When the page is opened
    response = invoke("OptInFunction", "optin", event)

    # Then it is a 404 HTML page, not cached
    assert response["statusCode"] == 404
    assert (header(response, "Content-Type") or "").startswith("text/html")
    assert header(response, "Cache-Control") == "no-store"
    assert "<html" in response["body"].lower()


# --------------------------------------------------------------------------- Mail


def test_mail_sends_nothing_for_a_contact_that_is_gone(invoke: Invoke, stack: ProvisionedStack) -> None:
    # Given the sample mail-queue batch: a confirmation for a contact this stack does not hold (erased)
    event = load_event("mail_sqs_batch")

    # When the Mail function handles it
    response = invoke("MailFunction", "mail", event)

    # Then nothing is retried and nothing is dead-lettered: there is no one left to ask
    assert response == {"batchItemFailures": []}
    assert drain_queue(stack.sqs, stack.queue_url("MailDeadLetterQueue"), expected=1) == []
