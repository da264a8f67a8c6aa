"""Double opt-in end to end: webhook in, mail in the local sink, a real browser confirms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from contactsync.adapters.dynamodb_consent import DynamoLinkTokens
from contactsync.domain.contact import SubscriptionStatus
from contactsync.domain.opt_in_tokens import LinkToken, TokenPurpose, new_token, token_digest
from tests.e2e.mail_sink_reader import html_of, link_in, mails_to, text_of, wait_for_mail
from tests.e2e.stack_client import StackClient, run_cli

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT_NAME = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


@pytest.fixture(scope="module")
def mail_dir(local_stack: Any) -> Path:
    return Path(local_stack.state["mail_dir"])


@pytest.fixture(scope="module")
def form_token(stack: StackClient) -> str:
    return stack.add_source("signup-form", "--name", "Signup form")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_up(stack: StackClient, token: str, email: str, **fields: str) -> None:
    response = stack.post("signup-form", token, {"email": email, **fields})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1


def test_a_person_confirms_in_a_real_browser_in_their_language(
    stack: StackClient, mail_dir: Path, form_token: str, browser: Browser, tmp_path: Path
) -> None:
    # Given a French sign-up whose first name holds markup
    sign_up(stack, form_token, "camille@example.com", first_name=SCRIPT_NAME, language="fr")

    # When the confirmation mail arrives in the local mail sink
    mail = wait_for_mail(mail_dir, "camille@example.com")
    assert "Veuillez confirmer" in str(mail["Subject"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(mail["List-Unsubscribe"]).startswith("<http")
    assert SCRIPT_NAME not in html_of(mail)  # escaped in HTML
    assert "&lt;script&gt;" in html_of(mail)
    assert SCRIPT_NAME in text_of(mail)  # and plain text in the text part

    # And the browser opens its link
    page = browser.new_page(locale="fr-CA")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(link_in(mail, "confirm"))

    # Then it sees the page in French, the name as text, and nothing is confirmed yet
    assert page.get_attribute("html", "lang") == "fr"
    assert page.inner_text("h1") == "Confirmez votre abonnement"
    assert SCRIPT_NAME in page.inner_text("main")
    assert stack.contact("camille@example.com").status is SubscriptionStatus.PENDING  # type: ignore[union-attr]

    # When it clicks Confirm
    page.get_by_role("button", name="Confirmer").click()
    page.wait_for_selector("h1")
    page.screenshot(path=str(tmp_path / "confirmed.png"))

    # Then the thank-you page shows, the contact is subscribed, and no script ever ran
    assert page.inner_text("h1") == "Merci, votre abonnement est confirmé"
    assert dialogs == []
    contact = stack.contact("camille@example.com")
    assert contact is not None
    assert contact.status is SubscriptionStatus.SUBSCRIBED

    # And `consent show` prints the proof: request, mail (with its Message-ID), confirmation
    record = json.loads(
        run_cli("consent", "show", "camille@example.com", "--format", "json", "--state-dir", stack.state_dir)
    )
    assert [event["type"] for event in record["events"]] == ["requested", "mail_sent", "confirmed"]
    assert record["events"][1]["message_id"] == mail["Message-ID"]
    assert record["events"][2]["user_agent"]
    assert record["chain_intact"] is True
    assert "confirmed" in run_cli("consent", "show", "camille@example.com", "--state-dir", stack.state_dir)
    page.close()


def test_a_link_scanner_prefetching_the_link_subscribes_nobody(
    stack: StackClient, mail_dir: Path, form_token: str
) -> None:
    sign_up(stack, form_token, "scanned@example.com")
    link = link_in(wait_for_mail(mail_dir, "scanned@example.com"), "confirm")
    for _ in range(3):
        assert requests.get(link, timeout=30, headers={"User-Agent": "SafeLinks/1.0"}).status_code == 200
        requests.head(link, timeout=30)
    assert stack.contact("scanned@example.com").status is SubscriptionStatus.PENDING  # type: ignore[union-attr]


def test_a_link_works_once(stack: StackClient, mail_dir: Path, form_token: str) -> None:
    sign_up(stack, form_token, "once@example.com")
    link = link_in(wait_for_mail(mail_dir, "once@example.com"), "confirm")
    assert requests.post(link, data={"action": "confirm"}, timeout=30).status_code == 200
    reused = requests.post(link, data={"action": "confirm"}, timeout=30)
    assert reused.status_code == 404
    assert "This link no longer works" in reused.text


def test_unknown_and_expired_links_show_the_same_friendly_page(
    stack: StackClient, mail_dir: Path, form_token: str
) -> None:
    # Given a pending contact whose link has expired
    sign_up(stack, form_token, "late@example.com")
    contact = stack.contact("late@example.com")
    assert contact is not None
    expired = new_token()
    DynamoLinkTokens(stack.target.dynamodb(), stack.target.contacts_table).issue(
        LinkToken(
            digest=token_digest(expired),
            purpose=TokenPurpose.CONFIRM,
            contact_id=contact.contact_id,
            source_id="signup-form",
            bound_version=contact.version,
            created_at=datetime.now(UTC) - timedelta(days=8),
            expires_at=datetime.now(UTC) - timedelta(days=1),
        )
    )
    # When each is opened
    pages = [
        requests.get(f"{stack.api_url}/v1/confirm/{token}", timeout=30) for token in (expired, new_token())
    ]
    # Then both answer alike, with no stack trace and a way to ask for a new mail
    assert [page.status_code for page in pages] == [404, 404]
    for page in pages:
        assert "This link no longer works" in page.text
        assert 'name="action" value="resend"' in page.text
        assert "Traceback" not in page.text
    assert (
        requests.post(
            f"{stack.api_url}/v1/confirm/{new_token()}", data={"action": "confirm"}, timeout=30
        ).status_code
        == 404
    )


def test_resend_is_limited_per_address(stack: StackClient, mail_dir: Path, form_token: str) -> None:
    # Given a sign-up, then the same form submitted again and again
    for _ in range(4):
        sign_up(stack, form_token, "repeat@example.com")
    wait_for_mail(mail_dir, "repeat@example.com")
    # When the mail queue has drained / Then one mail only went out
    stack.wait_for_queue_empty(stack.target.mail_queue_url)
    assert len(mails_to(mail_dir, "repeat@example.com")) == 1
    # And asking for a new link from an old link within the day does not send another
    link = link_in(mails_to(mail_dir, "repeat@example.com")[0], "confirm")
    answer = requests.post(link, data={"action": "resend"}, timeout=30)
    assert "Check your inbox" in answer.text
    stack.wait_for_queue_empty(stack.target.mail_queue_url)
    assert len(mails_to(mail_dir, "repeat@example.com")) == 1


def test_unsubscribe_by_link_and_by_one_click_is_sticky(
    stack: StackClient, mail_dir: Path, form_token: str
) -> None:
    sign_up(stack, form_token, "leaver@example.com")
    sign_up(stack, form_token, "clicker@example.com")
    for email in ("leaver@example.com", "clicker@example.com"):
        link = link_in(wait_for_mail(mail_dir, email), "confirm")
        requests.post(link, data={"action": "confirm"}, timeout=30)
    # When one uses the page and the other the mail client's one-click (RFC 8058)
    page_link = link_in(mails_to(mail_dir, "leaver@example.com")[0], "unsubscribe")
    assert "Unsubscribe" in requests.get(page_link, timeout=30).text
    assert stack.contact("leaver@example.com").status is SubscriptionStatus.SUBSCRIBED  # type: ignore[union-attr]
    assert requests.post(page_link, data={"action": "unsubscribe"}, timeout=30).status_code == 200
    one_click = str(mails_to(mail_dir, "clicker@example.com")[0]["List-Unsubscribe"]).strip("<>")
    response = requests.post(
        one_click,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 200
    # Then both are out at once
    for email in ("leaver@example.com", "clicker@example.com"):
        assert stack.contact(email).status is SubscriptionStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    # And no later webhook, even one with consent on file, subscribes them again
    crm = stack.add_source("crm-sticky", "--consent-mode", "consent_on_file")
    evidence = {"consent_basis": "express", "consent_obtained_at": "2026-11-01", "consent_method": "form"}
    stack.post("crm-sticky", crm, {"email": "leaver@example.com", **evidence})
    sign_up(stack, form_token, "clicker@example.com")
    assert stack.contact("leaver@example.com").status is SubscriptionStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    assert stack.contact("clicker@example.com").status is SubscriptionStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    record = json.loads(
        run_cli("consent", "show", "clicker@example.com", "--format", "json", "--state-dir", stack.state_dir)
    )
    assert record["events"][-1]["type"] == "withdrawn"
    assert "one-click" in record["events"][-1]["method"]


def test_erasure_removes_the_data_and_keeps_the_opt_out(
    stack: StackClient, mail_dir: Path, form_token: str
) -> None:
    sign_up(stack, form_token, "forget-me@example.com", first_name="Gone")
    wait_for_mail(mail_dir, "forget-me@example.com")
    # When the operator erases the address
    run_cli("contacts", "erase", "forget-me@example.com", "--yes", "--state-dir", stack.state_dir)
    # Then nothing of it is left
    assert stack.contact("forget-me@example.com") is None
    # And a later sign-up stores it as unsubscribed and sends no mail
    sign_up(stack, form_token, "forget-me@example.com")
    stack.wait_for_queue_empty(stack.target.mail_queue_url)
    assert stack.contact("forget-me@example.com").status is SubscriptionStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    assert len(mails_to(mail_dir, "forget-me@example.com")) == 1


def test_a_sign_up_that_changes_address_is_confirmed_only_from_the_new_address(
    stack: StackClient, mail_dir: Path, form_token: str
) -> None:
    # Given a sign-up whose confirmation mail went to its first address
    sign_up(stack, form_token, "first-address@example.com")
    old_link = link_in(wait_for_mail(mail_dir, "first-address@example.com"), "confirm")
    # When the sending system moves it to another address before anyone confirmed
    moved = stack.post(
        "signup-form",
        form_token,
        {
            "type": "member.email_changed",
            "email": "second-address@example.com",
            "previous_email": "first-address@example.com",
        },
    )
    assert moved.json()["accepted"] == 1, moved.text
    # Then the first address's link no longer confirms anything
    refused = requests.post(old_link, data={"action": "confirm"}, timeout=30)
    assert refused.status_code == 404
    assert "This link no longer works" in refused.text
    assert stack.contact("second-address@example.com").status is SubscriptionStatus.PENDING  # type: ignore[union-attr]
    # And the new address gets its own mail, whose link confirms
    new_link = link_in(wait_for_mail(mail_dir, "second-address@example.com"), "confirm")
    assert requests.post(new_link, data={"action": "confirm"}, timeout=30).status_code == 200
    assert stack.contact("second-address@example.com").status is SubscriptionStatus.SUBSCRIBED  # type: ignore[union-attr]
