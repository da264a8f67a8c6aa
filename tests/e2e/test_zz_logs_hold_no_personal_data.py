"""Runs last (file order): every log line the local stack wrote during the whole e2e session.

The flows before it sent names, addresses, phones, tokens and secrets through every
function; none of it may appear in a log line (issue: logs hold no personal data).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
SECRETS = re.compile(r"whsec_[A-Za-z0-9+/=]{10,}|Bearer\s+[A-Za-z0-9_-]{20,}")
# Names, places and tokens the other e2e modules sent
SENT_VALUES = (
    "Grace",
    "Camille",
    "Amélie",
    "Côté",
    "Zoé",
    "Tremblay",
    "Storm",
    "alert(",
    "api-token",
    "e2e-key-us1",
)
BANNER_END = "Ctrl-C stops everything."
LINK_TOKEN = re.compile(r"/v1/(confirm|unsubscribe)/[A-Za-z0-9_-]{20,}")


def test_no_log_line_holds_an_address_a_name_a_token_or_a_secret(local_stack: Any) -> None:
    output = local_stack.output()
    # The start-up banner is for the operator (it shows a demo token on purpose): the log starts after it
    lines = output.split(BANNER_END, 1)[-1].splitlines()
    assert len(lines) > 100, "the e2e flows should have produced logs"
    offending = [
        line
        for line in lines
        if EMAIL.search(line)
        or SECRETS.search(line)
        or LINK_TOKEN.search(line)
        or any(value in line for value in SENT_VALUES)
    ]
    assert offending == [], "\n".join(offending[:10])
