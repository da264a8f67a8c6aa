"""`contactsync dev` as a subprocess on free ports, in memory, with quick retries: the e2e and soak stacks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from contactsync_ops.local_stack.loopback_ports import pick_free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class RunningLocalStack:
    """What the e2e tests need to know about the running stack (parsed from its stack.json)."""

    api_url: str
    endpoints: dict[str, str]
    resources: dict[str, str]
    state_dir: Path
    state: dict[str, Any] = field(repr=False)
    log_path: Path = field(repr=False)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def _read_state(state_file: Path, pid: int) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if state.get("pid") == pid else None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def started_local_stack(state_dir: Path, *extra_args: str) -> Iterator[RunningLocalStack]:
    """`contactsync dev` started and stopped around the block, plus ``extra_args`` (e.g. ``--faults``)."""
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
