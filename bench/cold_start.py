"""Cold start: import time of each handler module in a fresh interpreter, next to a bare
``import boto3, aws_lambda_powertools`` measured the same way in the same run.

``python -X importtime`` writes one line per module; the top-level lines (no
nesting) add up to the whole import. Each figure is the median of several fresh
interpreters, so one slow start on a shared machine does not decide it.

Two figures per handler: ``import`` is what Lambda's init phase runs (the handler
module; its routes and use cases load on the first event), ``loaded`` adds that
first event's imports (every deferred module of the handler, and email-validator for
the handlers that check addresses), so the whole
cost of a cold container is in the table too, not only the part the target names.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("ingest", "optin", "mail", "sync", "push")
BASELINE = "import boto3, aws_lambda_powertools"
LOAD_DEFERRED = (
    "import app\n"
    "from contactsync.deferred_entrypoints import DeferredModule\n"
    "for entry in [v for v in vars(app).values() if isinstance(v, DeferredModule)]:\n"
    "    entry.load()\n"
)
# Imported inside the functions a handler's first contact runs, not with its modules: counted in
# ``loaded`` for the handlers that check addresses (phonenumbers only loads for a contact with a
# phone, which a first event need not have, so it is left out).
FIRST_CONTACT_IMPORTS = {"ingest": "import email_validator\n", "sync": "import email_validator\n"}
TARGET_RATIO = 1.3
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S.*)$")


def total_import_microseconds(code: str, cwd: Path) -> int:
    """Sum of the top-level modules' cumulative import time of ``code`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "POWERTOOLS_SERVICE_NAME": "contactsync"},
    )
    total = 0
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match and len(match.group(3)) == 1:  # one space: a top-level import
            total += int(match.group(2))
    return total


def median_ms(code: str, cwd: Path, runs: int) -> float:
    return statistics.median(total_import_microseconds(code, cwd) for _ in range(runs)) / 1000


def measure(runs: int = 7) -> dict[str, Any]:
    """Baseline and each handler's two figures, interleaved ``runs`` times (a shared machine drifts)."""
    samples: dict[str, list[int]] = {}

    def sample(key: str, code: str, cwd: Path) -> None:
        samples.setdefault(key, []).append(total_import_microseconds(code, cwd))

    for _ in range(runs):
        sample("baseline", BASELINE, PROJECT)
        for name in FUNCTIONS:
            sample(f"{name}.import", "import app", PROJECT / "functions" / name)
            loaded = LOAD_DEFERRED + FIRST_CONTACT_IMPORTS.get(name, "")
            sample(f"{name}.loaded", loaded, PROJECT / "functions" / name)
    median = {key: statistics.median(values) / 1000 for key, values in samples.items()}
    baseline = median["baseline"]
    handlers = {
        name: {
            "import_ms": round(median[f"{name}.import"], 1),
            "ratio_import": round(median[f"{name}.import"] / baseline, 2),
            "loaded_ms": round(median[f"{name}.loaded"], 1),
            "ratio_loaded": round(median[f"{name}.loaded"] / baseline, 2),
        }
        for name in FUNCTIONS
    }
    return {
        "baseline": BASELINE,
        "baseline_ms": round(baseline, 1),
        "handlers": handlers,
        "target_ratio": TARGET_RATIO,
        "runs_per_figure": runs,
    }


def check_cold_start(
    figures: dict[str, Any], check: Callable[[str, bool, str], None], *, enforce_target: bool
) -> None:
    """Every handler measured; in a full run also its import (the init phase) within the target.

    The smoke run (inside ``make test``) checks only that the figures exist: no time is asserted there.
    """
    cold = figures.get("cold_start")
    if cold is None:
        check("cold start measured", False, "missing")
        return
    for name in FUNCTIONS:
        figure = cold["handlers"].get(name)
        if not enforce_target:
            check(f"cold start {name} measured", figure is not None and figure["import_ms"] > 0, f"{figure}")
            continue
        check(
            f"cold start {name} import within {TARGET_RATIO}x of {BASELINE!r}",
            figure is not None and figure["ratio_import"] <= TARGET_RATIO,
            f"{figure}",
        )


def table_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    cold = figures.get("cold_start")
    if cold is None:
        return []
    rows = []
    for name, x in cold["handlers"].items():
        rows.append(
            (
                f"cold start, {name} handler import",
                f"{x['import_ms']:.0f} ms; with first event's imports {x['loaded_ms']:.0f} ms",
                f"{cold['baseline']}: {cold['baseline_ms']:.0f} ms",
                f"{x['ratio_import']:.2f}x (target <= {TARGET_RATIO}x); loaded {x['ratio_loaded']:.2f}x",
            )
        )
    return rows


if __name__ == "__main__":
    result = measure()
    print(f"baseline ({BASELINE}): {result['baseline_ms']} ms")
    for handler, figure in result["handlers"].items():
        print(f"  {handler:<7} {figure}")
