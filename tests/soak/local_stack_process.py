"""A `contactsync dev` subprocess per soak step, started the way the e2e fixture starts it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from contactsync_ops.local_stack.loopback_ports import pick_free_port
from tests.e2e.conftest import PROJECT_ROOT, START_TIMEOUT_SECONDS, RunningLocalStack, _read_state, _stop

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextlib.contextmanager
def started_local_stack(state_dir: Path, *extra_args: str) -> Iterator[RunningLocalStack]:
    """`contactsync dev` as the e2e fixture starts it, plus ``extra_args`` (e.g. ``--faults``)."""
    log_path = state_dir / "dev.log"
    command = [
        sys.executable, "-m", "contactsync_ops.cli", "dev",
        "--port", str(pick_free_port()),
        "--dynamodb-port", "0",
        "--moto-port", "0",
        "--state-dir", str(state_dir),
        "--in-memory",
        "--max-visibility-timeout", "2",
        "--batching-window", "1",
        "--parameter", "PushRetryBaseSeconds=0",
        *extra_args,
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        state = None
        while state is None:
            if process.poll() is not None:
                pytest.fail(f"the local stack exited with {process.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no local stack after {START_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")
            time.sleep(0.2)
            state = _read_state(state_dir / "stack.json", process.pid)
        yield RunningLocalStack(
            api_url=state["api_url"],
            endpoints=dict(state["endpoints"]),
            resources=dict(state["resources"]),
            state_dir=state_dir,
            state=state,
            log_path=log_path,
        )
    finally:
        _stop(process)
