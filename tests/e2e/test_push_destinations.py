"""Pushes through the running local stack to a Mailchimp-compatible server: the rules, the faults, the DLQ."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contactsync.domain.contact import SubscriptionStatus
from tests.doubles.mailchimp_server import MailchimpServer
from tests.e2e.stack_client import StackClient, run_cli

pytestmark = pytest.mark.e2e

API_KEY = "e2e-key-us1"
AUDIENCE = "members"
EVIDENCE = {
    "consent_basis": "express",
    "consent_obtained_at": "2026-10-01T09:00:00Z",
    "consent_method": "member form",
}


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


@pytest.fixture(scope="module")
def mailchimp(stack: StackClient) -> Iterator[MailchimpServer]:
    # Given a Mailchimp audience, wired as a destination the way an operator does it
    with MailchimpServer(api_key=API_KEY, lists=(AUDIENCE,)) as server:
        run_cli(
            "destinations", "add", "mailchimp-main", "--type", "mailchimp",
            "--api-url", server.url, "--list-id", AUDIENCE, "--api-key", API_KEY,
            "--state-dir", stack.state_dir,
        )  # fmt: skip
        yield server
        # The double goes away with this module: so does the destination, for the modules after it
        run_cli("destinations", "disable", "mailchimp-main", "--state-dir", stack.state_dir)


@pytest.fixture(scope="module")
def members_token(stack: StackClient, mailchimp: MailchimpServer) -> str:
    # And a member system with consent on file, whose cancelled members must stop receiving mail
    return stack.add_source("coworking", "--consent-mode", "consent_on_file", "--on-cancel", "unsubscribe")


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("the destination never got there")


def send(stack: StackClient, token: str, **payload: str) -> None:
    response = stack.post("coworking", token, {**EVIDENCE, **payload})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1, response.text


def test_a_member_reaches_the_audience_subscribed_with_merge_fields(
    stack: StackClient, mailchimp: MailchimpServer, members_token: str
) -> None:
    send(stack, members_token, type="member.confirmed", email="jo@example.com", first_name="Jo", plan="Desk")
    eventually(lambda: mailchimp.member(AUDIENCE, "jo@example.com") is not None)
    member = mailchimp.member(AUDIENCE, "jo@example.com")
    assert member is not None
    assert member.status == "subscribed"
    assert member.merge_fields["FNAME"] == "Jo"
    assert member.merge_fields["PLAN"] == "Desk"
    # And `contacts show` tells the sync status and Mailchimp's id
    shown = json.loads(run_cli("contacts", "show", "jo@example.com", "--state-dir", stack.state_dir))
    state = shown["destinations"]["mailchimp-main"]
    assert state["status"] == "synced"
    assert state["remote_id"]


def test_an_email_change_moves_the_member_instead_of_leaving_the_old_address_subscribed(
    stack: StackClient, mailchimp: MailchimpServer, members_token: str
) -> None:
    send(stack, members_token, type="member.confirmed", email="old@example.com", first_name="Sam")
    eventually(lambda: mailchimp.member(AUDIENCE, "old@example.com") is not None)
    send(
        stack,
        members_token,
        type="member.email_changed",
        email="new@example.com",
        previous_email="old@example.com",
    )
    eventually(lambda: mailchimp.member(AUDIENCE, "new@example.com") is not None)
    assert mailchimp.member(AUDIENCE, "old@example.com") is None
    assert mailchimp.member(AUDIENCE, "new@example.com").merge_fields["FNAME"] == "Sam"  # type: ignore[union-attr]


def test_a_cancelled_member_stops_receiving_mail(
    stack: StackClient, mailchimp: MailchimpServer, members_token: str
) -> None:
    send(stack, members_token, type="member.confirmed", email="leaving@example.com")
    eventually(lambda: mailchimp.member(AUDIENCE, "leaving@example.com") is not None)
    send(stack, members_token, type="member.cancelled", email="leaving@example.com")
    eventually(lambda: mailchimp.member(AUDIENCE, "leaving@example.com").status == "unsubscribed")  # type: ignore[union-attr]
    assert stack.contact("leaving@example.com").status is SubscriptionStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def test_an_erasure_deletes_the_member_permanently(
    stack: StackClient, mailchimp: MailchimpServer, members_token: str
) -> None:
    send(stack, members_token, type="member.confirmed", email="gdpr@example.com")
    eventually(lambda: mailchimp.member(AUDIENCE, "gdpr@example.com") is not None)
    run_cli("contacts", "erase", "gdpr@example.com", "--yes", "--state-dir", stack.state_dir)
    eventually(lambda: mailchimp.member(AUDIENCE, "gdpr@example.com") is None)


def test_every_change_arrives_once_through_429s_500s_slow_answers_and_dropped_connections(
    stack: StackClient, mailchimp: MailchimpServer, members_token: str
) -> None:
    # Given a destination that throttles, fails, dawdles and hangs up
    mailchimp.fail_next(2, 429, retry_after=1)
    mailchimp.fail_next(2, 500)
    mailchimp.slow_next(1, 2.0)
    mailchimp.drop_next(2)
    # When twelve members arrive
    emails = [f"storm{n}@example.com" for n in range(12)]
    for email in emails:
        send(stack, members_token, type="member.confirmed", email=email, first_name="Storm")
    # Then every one is in the audience, once, subscribed
    eventually(lambda: all(mailchimp.member(AUDIENCE, e) is not None for e in emails), timeout=90)
    audience = mailchimp.members(AUDIENCE)
    assert sum(1 for m in audience.values() if m.email_address.startswith("storm")) == 12
    assert all(mailchimp.member(AUDIENCE, e).status == "subscribed" for e in emails)  # type: ignore[union-attr]


def test_a_refused_change_waits_in_the_dlq_with_its_reason_and_redrive_delivers_it(
    stack: StackClient, mailchimp: MailchimpServer, members_token: str
) -> None:
    # Given Mailchimp refusing the next call with a 400 (a change that will never succeed as sent)
    stack.drain(stack.target.push_dead_letter_queue_url)
    mailchimp.fail_next(1, 400)
    # When a member arrives
    send(stack, members_token, type="member.confirmed", email="refused@example.com")
    # Then the change is parked in the DLQ at once, with Mailchimp's reason, and not retried
    eventually(lambda: "1 message(s)" in run_cli("dlq", "list", "--state-dir", stack.state_dir))
    listing = run_cli("dlq", "list", "--state-dir", stack.state_dir)
    assert "mailchimp-main: Injected Failure" in listing
    assert "1 message(s)" in listing
    assert mailchimp.member(AUDIENCE, "refused@example.com") is None
    shown = json.loads(run_cli("contacts", "show", "refused@example.com", "--state-dir", stack.state_dir))
    assert shown["destinations"]["mailchimp-main"]["status"] == "failed"
    # When the operator redrives the DLQ once the cause is fixed
    assert "1 message(s) sent back" in run_cli("dlq", "redrive", "--state-dir", stack.state_dir)
    # Then it is delivered
    eventually(lambda: mailchimp.member(AUDIENCE, "refused@example.com") is not None)
