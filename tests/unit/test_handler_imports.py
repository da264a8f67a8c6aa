"""A cold container imports only the handler module: routes, use cases and boto3 wait for the first event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "pydantic", "email_validator", "phonenumbers", "jinja2", "aws_xray_sdk")


def modules_after(code: str, function: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT / "functions" / function,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "POWERTOOLS_SERVICE_NAME": "contactsync"},
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", ["ingest", "optin", "mail", "sync", "push"])
def test_importing_a_handler_loads_nothing_heavy(function: str) -> None:
    # Given a fresh interpreter, as in a new Lambda container
    # When the runtime imports the handler module
    loaded = modules_after("import app", function)

    # Then no heavy library is imported yet, and the handler is callable
    assert not {name for name in HEAVY if name in loaded}
    assert "app" in loaded


@pytest.mark.parametrize(
    ("function", "entry", "module"),
    [
        ("ingest", "app", "contactsync.api.ingest_routes"),
        ("optin", "app", "contactsync.api.optin_routes"),
        ("mail", "mail_records", "contactsync.consumers.mail_records"),
        ("push", "push_records", "contactsync.consumers.push_records"),
        ("sync", "sync_events", "contactsync.consumers.sync_schedule"),
    ],
)
def test_the_first_event_loads_the_handlers_routes_or_records(function: str, entry: str, module: str) -> None:
    # Given a handler module imported in a fresh interpreter
    # When its deferred entry point is first used
    loaded = modules_after(f"import app\napp.{entry}.load()", function)

    # Then its module is there, and no handler loads the X-Ray SDK
    assert module in loaded
    assert "aws_xray_sdk" not in loaded
