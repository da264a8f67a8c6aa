"""When a change that a destination could not take is tried again.

Exponential backoff from a base, capped, with "equal jitter" (half the wait is
fixed, half random) so that containers retrying together spread out, and never
sooner than the destination's Retry-After. The shortest waits summed over the
Push queue's maxReceiveCount are how long a destination may be down before a
change reaches the dead-letter queue; a unit test holds that above one hour.
"""

from __future__ import annotations

CAP_SECONDS = 900.0
OUTAGE_RIDDEN_OUT_SECONDS = 3600.0


def retry_delay_seconds(
    receive_count: int, retry_after: float | None, *, base_seconds: float, jitter: float
) -> float:
    """The wait after the ``receive_count``-th failed attempt; ``jitter`` is uniform in [0, 1)."""
    exponential = min(CAP_SECONDS, base_seconds * 2 ** max(0, receive_count - 1))
    return float(max(exponential * (0.5 + jitter / 2), retry_after or 0.0))
