"""A destination down for an hour: every change is still being retried when it comes back.

The figures come from template.yaml (the Push queue's maxReceiveCount, the default
PushRetryBaseSeconds), so a change there that shortens the window fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contactsync.domain.retry_schedule import retry_delay_seconds
from contactsync_ops.local_stack.template_model import load_template_document

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def push_queue_figures() -> tuple[int, float]:
    document = load_template_document(TEMPLATE)
    queue = document["Resources"]["PushQueue"]["Properties"]
    base = float(document["Parameters"]["PushRetryBaseSeconds"]["Default"])
    return int(queue["RedrivePolicy"]["maxReceiveCount"]), base


def attempt_times(outage_seconds: float, jitter: float) -> list[float]:
    """When each receive happens while the destination is down from t=0, until delivered or dead-lettered."""
    max_receives, base = push_queue_figures()
    now, times = 0.0, []
    for receive in range(1, max_receives + 1):
        times.append(now)
        if now >= outage_seconds:
            return times  # delivered
        now += retry_delay_seconds(receive, None, base_seconds=base, jitter=jitter)
    return times  # the last receive failed: the next visibility moves it to the DLQ


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_a_change_outlives_a_destination_that_is_down_for_an_hour(jitter: float) -> None:
    # Given a destination that answers 503 for an hour, and the unluckiest (shortest) jitter among others
    # When the Push function retries the change on the template's schedule
    times = attempt_times(3600.0, jitter)

    # Then an attempt happens after the outage, before the queue gives up
    assert times[-1] >= 3600.0, times


def test_a_permanently_failing_change_reaches_the_dlq_within_a_few_hours() -> None:
    # Given a destination that never recovers
    times = attempt_times(float("inf"), jitter=0.999)

    # Then the change gives up (to the DLQ, where redrive can deliver it) well within the queue's retention
    max_receives, _ = push_queue_figures()
    assert len(times) == max_receives
    assert times[-1] + 900.0 <= 4 * 3600  # the last wait is at most the 15-minute cap


def test_retry_after_is_never_undercut_and_waits_stay_capped() -> None:
    # Given a destination that asks for 10 minutes
    # Then the first retry waits at least that long, and no wait exceeds the cap (or Retry-After)
    assert retry_delay_seconds(1, 600.0, base_seconds=30, jitter=0.0) == 600.0
    assert retry_delay_seconds(30, None, base_seconds=30, jitter=0.999) <= 900.0
    assert retry_delay_seconds(1, None, base_seconds=30, jitter=0.0) == 15.0
