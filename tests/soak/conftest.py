"""`make soak` only: the long load, schemathesis and fault runs, each on its own local stack.

Nothing here is collected unless pytest is given ``--soak`` (make soak does): `make test`
walks tests/ and must neither run nor list these. The figures of the run are written to
docs/soak-results.json when the session ends, with each step's outcome.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.local_stack_process import PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator

SOAK_DIR = Path(__file__).resolve().parent
RESULTS_PATH = PROJECT_ROOT / "docs" / "soak-results.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False, help="collect and run tests/soak")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak_step(name): the docs/soak-results.json step a soak test fills")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave tests/soak out of every run that did not ask for it."""
    if SOAK_DIR in (collection_path, *collection_path.parents) and not config.getoption("--soak", False):
        return True
    return None


@pytest.fixture(scope="session")
def soak_results() -> Iterator[dict[str, Any]]:
    """Each step adds its figures; written to docs/soak-results.json at the end, pass or fail."""
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.system(),
        },
        "steps": {},
    }
    yield results
    steps: dict[str, dict[str, Any]] = results["steps"]
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    results["passed"] = bool(steps) and all(step.get("passed") for step in steps.values())
    results["totals"] = {
        "requests": sum(step.get("requests", 0) + step.get("cases", 0) for step in steps.values()),
        "faults_injected": sum(sum(step.get("faults_injected", {}).values()) for step in steps.values()),
        "contacts_lost": sum(step.get("contacts_lost", 0) for step in steps.values()),
        "status_5xx_not_allowed": sum(step.get("status_5xx_not_allowed", 0) for step in steps.values()),
        "mails_duplicated": sum(step.get("mails_duplicated", 0) for step in steps.values()),
        "schemathesis_cases": sum(step.get("cases", 0) for step in steps.values()),
        "schemathesis_failures": sum(step.get("failed_cases", 0) for step in steps.values()),
    }
    RESULTS_PATH.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Mark the step a test recorded as passed or not, from the test's own outcome."""
    report = yield
    if call.when == "call":
        results = getattr(item, "funcargs", {}).get("soak_results")
        step = item.get_closest_marker("soak_step")
        if results is not None and step is not None:
            results["steps"].setdefault(step.args[0], {})["passed"] = report.passed
    return report
