"""Concurrent senders, short: the load run of `make soak` in small, so it cannot rot.

10 senders post single-contact webhooks for 5 seconds, several of them the same brand-new
address at once. What a user checks: no 5xx, every contact answered 202 is stored once with the
id the answer gave, nothing refused is stored, and each address gets one confirmation mail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack_client import StackClient
from tests.e2e.webhook_load import LoadPlan, SendingSource, run_load, settle_and_compare

pytestmark = pytest.mark.e2e


def test_concurrent_senders_get_each_accepted_contact_stored_once_and_mailed_once(local_stack: Any) -> None:
    # Given two double opt-in sources, each with its own token
    stack = StackClient(local_stack)
    sources = tuple(
        SendingSource(source_id, stack.add_source(source_id)) for source_id in ("load-a", "load-b")
    )
    plan = LoadPlan(senders=10, duration_seconds=5, sources=sources, run_label="short", pool_size=10)

    # When 10 senders post single contacts for 5 seconds, sharing new addresses
    record = run_load(stack.api_url, plan)
    outcome = settle_and_compare(stack, record, Path(local_stack.state["mail_dir"]), timeout=60)

    # Then nothing failed on the server's side and the senders got through
    figures = {**record.figures(), **outcome.figures()}
    print("load figures:", figures)
    assert figures["status_5xx"] == {}, figures
    assert record.statuses()[0] == 0, f"connections failed: {figures}"
    assert figures["status_202"] > 0, figures
    # And some new addresses were really sent by several senders at once
    burst_senders = [
        sum(1 for exchange in record.exchanges if exchange.address == address)
        for address in record.sent_addresses()
        if "-burst-" in address
    ]
    assert max(burst_senders) >= 2, figures
    # And every accepted contact is stored exactly once, under the id its answers gave
    assert outcome.lost == [], figures
    assert outcome.duplicated == [], figures
    assert outcome.answer_disagrees_with_storage == [], figures
    assert outcome.stored_without_acceptance == [], figures
    # And each accepted address got exactly one confirmation mail
    assert outcome.mails_missing == [], figures
    assert outcome.mails_duplicated == [], figures
