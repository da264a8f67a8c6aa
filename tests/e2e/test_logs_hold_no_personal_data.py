"""No log line of the local stack holds an address, a name, a phone, a link token or a secret.

The test sends its own personal data through every function (webhook, mail, confirm and
unsubscribe links, a refused credential, a rejected contact), then reads the whole log the
stack wrote during the e2e session. The e2e conftest runs it last, so the values the other
flows sent are checked too; run alone, it still checks its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from contactsync.domain.contact import SubscriptionStatus
from tests.e2e.mail_sink_reader import link_in, wait_for_mail
from tests.e2e.stack_client import StackClient

pytestmark = pytest.mark.e2e

SOURCE_ID = "log-check-form"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
SECRETS = re.compile(r"whsec_[A-Za-z0-9+/=]{10,}|Bearer\s+[A-Za-z0-9_-]{20,}")
LINK_TOKEN = re.compile(r"/v1/(confirm|unsubscribe)/[A-Za-z0-9_-]{20,}")
# What this test sends
OWN_PERSON = {
    "email": "ophelie.logcheck@example.com",
    "first_name": "Ophélie",
    "last_name": "Marchand-Bouchard",
    "phone": "+1 514 555 0199",
    "language": "fr",
}
OWN_VALUES = ("Ophélie", "Marchand-Bouchard", "555 0199", "5145550199", "logcheck", "not-an-address")
# Names, places and credentials the other e2e modules sent
OTHER_MODULES_VALUES = (
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
# The log messages of this test's flow, one or more per function
FLOW_MESSAGES = (
    "contacts ingested",
    "request refused",
    "confirmation mail",
    "confirmation link used",
    "unsubscribe link used",
)


def test_no_log_line_holds_an_address_a_name_a_token_or_a_secret(local_stack: Any) -> None:
    # Given a double opt-in form source
    stack = StackClient(local_stack)
    token = stack.add_source(SOURCE_ID, "--name", "Log check form")
    log_before = len(local_stack.output())

    # When a person signs up with a name and a phone, next to a contact that is rejected
    batch = {"contacts": [OWN_PERSON, {"email": "not-an-address", "first_name": "Ophélie"}]}
    accepted = stack.post(SOURCE_ID, token, batch)
    assert accepted.status_code == 202, accepted.text
    assert [result["status"] for result in accepted.json()["results"]] == ["accepted", "rejected"]
    # And a sender uses a wrong credential
    refused = stack.post(SOURCE_ID, "wrong-" + token, OWN_PERSON)
    assert refused.status_code == 401
    # And the person confirms from the mail, then unsubscribes from the same mail
    mail = wait_for_mail(Path(local_stack.state["mail_dir"]), OWN_PERSON["email"])
    confirmed = requests.post(link_in(mail, "confirm"), data={"action": "confirm"}, timeout=30)
    assert confirmed.status_code == 200
    left = requests.post(link_in(mail, "unsubscribe"), data={"action": "unsubscribe"}, timeout=30)
    assert left.status_code == 200
    assert stack.contact(OWN_PERSON["email"]).status is SubscriptionStatus.UNSUBSCRIBED  # type: ignore[union-attr]

    # Then every function logged its part of this flow
    output = local_stack.output()
    flow_log = output[log_before:]
    for message in FLOW_MESSAGES:
        assert f'"message":"{message}"' in flow_log, f"no '{message}' line was logged"
    # And no line after the start-up banner (it shows a demo token on purpose) holds personal data
    lines = output.split(BANNER_END, 1)[-1].splitlines()
    offending = [
        line
        for line in lines
        if EMAIL.search(line)
        or SECRETS.search(line)
        or LINK_TOKEN.search(line)
        or any(value in line for value in OWN_VALUES + OTHER_MODULES_VALUES)
    ]
    assert offending == [], "\n".join(offending[:10])
