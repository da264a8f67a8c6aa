"""Webhook ingest through the running local stack's HTTP route."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from contactsync.domain.contact import SubscriptionStatus
from tests.e2e.mail_sink_reader import mails_to, wait_for_mail
from tests.e2e.stack_client import StackClient, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


def test_a_request_signed_with_the_standardwebhooks_library_is_accepted_once(stack: StackClient) -> None:
    # Given a source that signs its webhooks
    secret = stack.add_source("member-system", "--auth", "standard_webhooks", "--consent-mode", "data_only")
    body = json.dumps({"type": "member.confirmed", "email": "signed@example.com", "first_name": "Sig"})
    # When it posts a signed contact
    first = stack.post_signed("member-system", secret, body, "msg_2f9a", datetime.now(UTC))
    # Then it is stored
    assert first.status_code == 202, first.text
    stored = stack.contact("signed@example.com")
    assert stored is not None
    # And the same webhook-id again gets the first answer, writes nothing
    replay = stack.post_signed("member-system", secret, body, "msg_2f9a", datetime.now(UTC))
    assert replay.status_code == 202
    assert replay.json() == first.json()
    assert stack.contact("signed@example.com") == stored


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong-secret",
        "expired",
        "future",
        "body-changed",
        "no-signature",
        "malformed-signature",
        "malformed-timestamp",
        "no-webhook-id",
        "replayed-an-hour-later",
    ],
)
def test_bad_signatures_are_401_and_store_nothing(stack: StackClient, tamper: str) -> None:
    secret = stack.add_source(f"signed-{tamper}", "--auth", "standard_webhooks")
    email = f"{tamper}@example.com"
    body = json.dumps({"email": email})
    now = datetime.now(UTC)
    signing_secret = (
        "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==" if tamper == "wrong-secret" else secret
    )
    at = {
        "expired": now - timedelta(minutes=6),
        "future": now + timedelta(minutes=6),
        "replayed-an-hour-later": now - timedelta(hours=1),  # a captured request, sent again
    }.get(tamper, now)
    headers = {
        "content-type": "application/json",
        "webhook-id": f"msg_{tamper}",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(signing_secret).sign(f"msg_{tamper}", at, body),
    }
    if tamper == "no-signature":
        del headers["webhook-signature"]
    if tamper == "no-webhook-id":
        del headers["webhook-id"]
    if tamper == "malformed-signature":
        headers["webhook-signature"] = "v1,%%%not-base64%%%"
    if tamper == "malformed-timestamp":
        headers["webhook-timestamp"] = "yesterday"
    sent = body.replace(email, "other@example.com") if tamper == "body-changed" else body
    response = requests.post(
        f"{stack.api_url}/v1/sources/signed-{tamper}/contacts", data=sent, headers=headers, timeout=30
    )
    assert response.status_code == 401
    # The answer never says which part failed (nothing that helps an attacker)
    assert response.json()["error"] == "unauthorized"
    assert response.json()["message"] == "Missing or invalid credentials."
    assert stack.contact(email) is None
    assert stack.contact("other@example.com") is None


def test_what_zapiers_webhook_action_posts_form_encoded(stack: StackClient) -> None:
    # Given a Zapier "Webhooks by Zapier" POST action with Payload Type "form"
    token = stack.add_source("zapier", "--language", "fr")
    body = "email=Zoe%40Example.com&first_name=Zo%C3%A9&last_name=Tremblay&language=Fran%C3%A7ais&lists=news"
    # When it posts
    response = requests.post(
        f"{stack.api_url}/v1/sources/zapier/contacts",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {token}",
            "User-Agent": "Zapier",
            "Accept": "*/*",
        },
        timeout=30,
    )
    # Then the contact is pending, in French, on the list, waiting for its confirmation mail
    assert response.status_code == 202, response.text
    contact = stack.contact("zoe@example.com")
    assert contact is not None
    assert (contact.profile.first_name, contact.profile.language) == ("Zoé", "fr")
    assert contact.status is SubscriptionStatus.PENDING
    assert contact.lists == {"news": SubscriptionStatus.PENDING}


def test_concurrent_requests_for_one_new_address_make_one_contact_and_one_opt_in(
    stack: StackClient, local_stack: Any
) -> None:
    mail_dir = Path(local_stack.state["mail_dir"])
    token = stack.add_source("race")
    # When eight senders post the same new address at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda n: stack.post("race", token, {"email": "race@example.com", "plan": f"p{n % 2}"}),
                range(8),
            )
        )
    # Then every one is accepted, with the same contact id, and one confirmation mail goes out
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["results"][0]["contact_id"] for r in responses}) == 1
    wait_for_mail(mail_dir, "race@example.com")
    stack.wait_for_queue_empty(stack.target.mail_queue_url)
    assert len(mails_to(mail_dir, "race@example.com")) == 1


def test_idempotency_key_reused_with_another_body_is_refused(stack: StackClient) -> None:
    token = stack.add_source("idem", "--consent-mode", "data_only")
    first = stack.post("idem", token, {"email": "idem@example.com"}, **{"Idempotency-Key": "order-77"})
    assert first.status_code == 202
    again = stack.post("idem", token, {"email": "idem@example.com"}, **{"Idempotency-Key": "order-77"})
    assert again.json() == first.json()
    other = stack.post("idem", token, {"email": "else@example.com"}, **{"Idempotency-Key": "order-77"})
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert stack.contact("else@example.com") is None


def test_a_batch_is_partly_accepted_with_field_paths(stack: StackClient) -> None:
    token = stack.add_source("batch", "--consent-mode", "data_only")
    response = stack.post(
        "batch",
        token,
        {"contacts": [{"email": "ok@example.com"}, {"email": "not-an-address"}, {"name": "Nobody"}]},
    )
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
    assert results[1]["errors"][0]["path"] == "email"
    assert "not-an-address" not in response.text


def test_consent_on_file_needs_its_evidence(stack: StackClient) -> None:
    token = stack.add_source("crm", "--consent-mode", "consent_on_file")
    refused = stack.post("crm", token, {"email": "crm@example.com"})
    assert refused.json()["results"][0]["errors"][0]["path"] == "consent"
    evidence = {
        "consent_basis": "express",
        "consent_obtained_at": "2026-10-01T10:00:00Z",
        "consent_method": "paper form",
    }
    accepted = stack.post("crm", token, {"email": "crm@example.com", **evidence})
    assert accepted.json()["accepted"] == 1
    contact = stack.contact("crm@example.com")
    assert contact is not None
    assert contact.status is SubscriptionStatus.SUBSCRIBED


def test_a_disabled_source_answers_404(stack: StackClient) -> None:
    token = stack.add_source("retired")
    run_cli("sources", "disable", "retired", "--state-dir", stack.state_dir)
    assert stack.post("retired", token, {"email": "a@example.com"}).status_code == 404


def test_a_batch_of_1000_contacts_is_accepted_in_one_request(stack: StackClient) -> None:
    token = stack.add_source("bulk", "--consent-mode", "data_only")
    contacts = [{"email": f"bulk{n}@example.com", "first_name": f"B{n}"} for n in range(1000)]
    response = stack.post("bulk", token, {"contacts": contacts})
    assert response.status_code == 202, response.text[:500]
    assert response.json()["accepted"] == 1000
    assert stack.contact("bulk999@example.com") is not None


def test_changes_to_a_subscribed_contact_from_a_double_opt_in_form_wait_and_never_downgrade(
    stack: StackClient,
) -> None:
    # Given a contact subscribed through a source with consent on file
    crm = stack.add_source("crm-rules", "--consent-mode", "consent_on_file")
    evidence = {
        "consent_basis": "express",
        "consent_obtained_at": "2026-10-01T10:00:00Z",
        "consent_method": "form",
    }
    assert stack.post("crm-rules", crm, {"email": "kept@example.com", "first_name": "Kim", **evidence}).ok
    # When a double opt-in form sends other data for the same address
    form = stack.add_source("form-rules")
    assert stack.post("form-rules", form, {"email": "kept@example.com", "first_name": "Kimberly"}).ok
    # Then the stored data is unchanged and the change waits for the owner's confirmation
    contact = stack.contact("kept@example.com")
    assert contact is not None
    assert contact.profile.first_name == "Kim"
    assert contact.pending_change is not None
    assert contact.pending_change.profile.first_name == "Kimberly"
    # And the contact stays subscribed: a request never downgrades it
    assert contact.status is SubscriptionStatus.SUBSCRIBED
    # While the consent-on-file source's own changes apply at once
    assert stack.post("crm-rules", crm, {"email": "kept@example.com", "last_name": "Lee", **evidence}).ok
    updated = stack.contact("kept@example.com")
    assert updated is not None
    assert (updated.profile.last_name, updated.status) == ("Lee", SubscriptionStatus.SUBSCRIBED)


@pytest.mark.parametrize(
    ("name", "body", "content_type", "status"),
    [
        (
            "oversized",
            json.dumps({"email": "big@example.com", "note": "x" * 300_000}),
            "application/json",
            413,
        ),
        ("wrong-type", json.dumps({"email": "xml@example.com"}), "application/xml", 415),
        (
            "deep",
            '{"email": "deep@example.com", "a": ' + "[" * 50_000 + "]" * 50_000 + "}",
            "application/json",
            400,
        ),
        (
            "huge-string",
            json.dumps({"email": "long@example.com", "note": "y" * 20_000}),
            "application/json",
            422,
        ),
        ("not-json", '{"email": "broken@example.com",', "application/json", 400),
    ],
)
def test_hostile_bodies_are_refused_with_their_status_and_store_nothing(
    stack: StackClient, name: str, body: str, content_type: str, status: int
) -> None:
    # Given a source with a valid token
    token = stack.add_source(f"hostile-{name}", "--consent-mode", "data_only")
    # When a body that is too big, of the wrong type, too deep or malformed arrives
    response = requests.post(
        f"{stack.api_url}/v1/sources/hostile-{name}/contacts",
        data=body.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=30,
    )
    # Then it gets its status with a JSON error body, and nothing is stored
    assert response.status_code == status, response.text
    assert response.json()["error"]
    email = json.loads(body)["email"] if name in {"oversized", "wrong-type", "huge-string"} else None
    for address in filter(None, [email, "deep@example.com", "broken@example.com"]):
        assert stack.contact(address) is None
