"""Cold start: import time of each handler module in a fresh interpreter, next to a bare
``import boto3, aws_lambda_powertools`` measured the same way in the same run.

``python -X importtime`` writes one line per module; the top-level lines (no
nesting) add up to the whole import. Each figure is the median of several fresh
interpreters, so one slow start on a shared machine does not decide it.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("ingest", "optin", "mail", "sync", "push")
BASELINE = "import boto3, aws_lambda_powertools"
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


def measure(runs: int = 5) -> dict[str, Any]:
    baseline = median_ms(BASELINE, PROJECT, runs)
    handlers = {name: median_ms("import app", PROJECT / "functions" / name, runs) for name in FUNCTIONS}
    return {
        "baseline_ms": round(baseline, 1),
        "handlers_ms": {name: round(value, 1) for name, value in handlers.items()},
        "ratios": {name: round(value / baseline, 2) for name, value in handlers.items()},
        "target_ratio": TARGET_RATIO,
        "runs_per_figure": runs,
    }


if __name__ == "__main__":
    result = measure()
    print(f"baseline ({BASELINE}): {result['baseline_ms']} ms")
    for name, value in result["handlers_ms"].items():
        print(f"  {name:<7} {value:7.1f} ms  {result['ratios'][name]:.2f}x (target <= {TARGET_RATIO}x)")
