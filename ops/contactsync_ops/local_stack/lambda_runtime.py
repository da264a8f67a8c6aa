"""A local Lambda service: warm worker processes per function, with Lambda's timeout and errors.

Each worker is a separate Python process (like a Lambda execution environment) whose
environment is only the function's template environment plus what Lambda itself sets, with
boto3's endpoint variables pointing at the local stack: function code has no local branch.
A small pool per function lets concurrent HTTP requests run side by side, as Lambda scales.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from contactsync_ops.local_stack.lambda_worker import write_frame
from contactsync_ops.local_stack.template_model import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contactsync_ops.local_stack.endpoints import LocalEndpoints
    from contactsync_ops.local_stack.template_model import FunctionSpec

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 4
INIT_TIMEOUT_SECONDS = 30.0
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "TERM")


@dataclass(frozen=True)
class InvocationError:
    """What Lambda reports for a failed invocation."""

    error_type: str
    error_message: str
    stack_trace: tuple[str, ...] = ()

    def as_payload(self) -> dict[str, Any]:
        return {
            "errorType": self.error_type,
            "errorMessage": self.error_message,
            "stackTrace": list(self.stack_trace),
        }


@dataclass(frozen=True)
class InvocationResult:
    """The handler's return value, or the error Lambda would report instead."""

    function_logical_id: str
    request_id: str
    payload: Any = None
    error: InvocationError | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _WorkerGone(Exception):
    """The worker process closed its pipe (it exited or crashed)."""


def child_python_path(spec: FunctionSpec) -> str:
    """Layers first (as /opt/python in Lambda), then this process's own import path.

    The parent's path makes ``contactsync`` and ``contactsync_ops`` importable in the child
    whether they come from the venv, an editable install or PYTHONPATH.
    """
    entries = [str(directory) for directory in spec.layer_dirs]
    package = importlib.util.find_spec("contactsync_ops")
    if package is not None and package.submodule_search_locations:
        entries.append(str(Path(next(iter(package.submodule_search_locations))).parent))
    entries += [entry for entry in sys.path if entry and Path(entry).is_dir()]
    return os.pathsep.join(dict.fromkeys(entries))


def worker_environment(
    spec: FunctionSpec, endpoints: LocalEndpoints, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The function's environment: template variables, the runner's extras (fault injection),
    then what Lambda sets (which wins)."""
    environment = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    environment.update(spec.environment)
    environment.update(endpoints.aws_environment())
    environment.update(extra or {})
    environment.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": child_python_path(spec),
        }
    )
    return environment


class _Worker:
    """One warm worker process and the two pipes to it."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str]) -> None:
        child_reads, self._request_fd = os.pipe()
        self._response_fd, child_writes = os.pipe()
        command = [
            sys.executable, "-m", "contactsync_ops.local_stack.lambda_worker",
            "--read-fd", str(child_reads), "--write-fd", str(child_writes), "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                env=environment,
                cwd=spec.code_dir,
                stdin=subprocess.DEVNULL,
                pass_fds=(child_reads, child_writes),
                start_new_session=True,  # Ctrl-C reaches the runner, which stops workers itself
            )
        finally:
            os.close(child_reads)
            os.close(child_writes)
        self.ready = False
        self._fd_lock = threading.Lock()

    def read_response(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        header = self._read(4, deadline)
        if header is None:
            return None
        payload = self._read(int.from_bytes(header, "big"), deadline)
        if payload is None:
            return None
        message: dict[str, Any] = json.loads(payload)
        return message

    def _read(self, size: int, deadline: float) -> bytes | None:
        chunks: list[bytes] = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._response_fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self._response_fd, size)
            if not chunk:
                raise _WorkerGone
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def send(self, message: dict[str, Any]) -> None:
        try:
            write_frame(self._request_fd, message)
        except BrokenPipeError as error:
            raise _WorkerGone from error

    def _close_fds(self) -> None:
        with self._fd_lock:
            for fd in (self._request_fd, self._response_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._request_fd = self._response_fd = -1

    def kill(self) -> None:
        """Kill the process and release its pipes (only from the thread that holds the worker)."""
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._close_fds()

    def stop(self) -> None:
        """Close the request pipe (the worker exits on end of file), then make sure."""
        with self._fd_lock:
            if self._request_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._request_fd)
                self._request_fd = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)
        self.kill()


class _FunctionPool:
    """Up to ``max_concurrency`` warm workers for one function, spawned on demand."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str], max_concurrency: int) -> None:
        self.spec = spec
        self.environment = environment
        self.max_concurrency = max_concurrency
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._size = 0
        self._closed = False
        self._changed = threading.Condition()

    def acquire(self) -> _Worker:
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the local Lambda runtime is closed")
                if self._idle:
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                if self._size < self.max_concurrency:
                    self._size += 1
                    break
                self._changed.wait()
        try:
            worker = _Worker(self.spec, self.environment)
        except BaseException:
            with self._changed:
                self._size -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._busy.add(worker)
        return worker

    def release(self, worker: _Worker, *, healthy: bool) -> None:
        with self._changed:
            self._busy.discard(worker)
            keep = healthy and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._size -= 1
            self._changed.notify()
        if not keep:
            worker.kill()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._size -= len(idle)
            self._changed.notify_all()
        for worker in idle:
            worker.stop()
        for worker in busy:  # its invocation ends with Runtime.ExitError, then release() cleans up
            if worker.process.poll() is None:
                worker.process.kill()


class LambdaRuntime:
    """Invokes the template's functions in warm local workers; never raises for handler failures."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        *,
        endpoints: LocalEndpoints,
        account_id: str = DEFAULT_ACCOUNT_ID,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        worker_extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.functions = dict(functions)
        self._function_arns = {
            logical_id: f"arn:aws:lambda:{endpoints.region}:{account_id}:function:{spec.name}"
            for logical_id, spec in self.functions.items()
        }
        self._pools = {
            logical_id: _FunctionPool(
                spec, worker_environment(spec, endpoints, worker_extra_environment), max_concurrency
            )
            for logical_id, spec in self.functions.items()
        }

    def invoke(self, logical_id: str, event: Any) -> InvocationResult:
        """Run the function with ``event`` like a synchronous Lambda invoke."""
        pool = self._pools[logical_id]
        spec = pool.spec
        request_id = str(uuid.uuid4())
        started = time.monotonic()

        def failed(error_type: str, message: str, trace: tuple[str, ...] = ()) -> InvocationResult:
            error = InvocationError(error_type, message, trace)
            duration = (time.monotonic() - started) * 1000
            return InvocationResult(logical_id, request_id, error=error, duration_ms=duration)

        worker = pool.acquire()
        healthy = False
        try:
            if not worker.ready:
                ready = worker.read_response(max(INIT_TIMEOUT_SECONDS, spec.timeout_seconds))
                if ready is None:
                    return failed("Runtime.InitTimeout", f"{spec.logical_id} did not initialise in time")
                if not ready.get("ok"):
                    return failed(
                        ready["errorType"], ready["errorMessage"], tuple(ready.get("stackTrace", ()))
                    )
                worker.ready = True
            deadline_epoch_ms = int(time.time() * 1000) + spec.timeout_seconds * 1000
            worker.send(
                {
                    "request_id": request_id,
                    "deadline_epoch_ms": deadline_epoch_ms,
                    "invoked_function_arn": self._function_arns[logical_id],
                    "event": event,
                }
            )
            response = worker.read_response(spec.timeout_seconds)
            if response is None:
                message = f"Task timed out after {spec.timeout_seconds:.2f} seconds"
                logger.error("%s %s (RequestId %s)", spec.logical_id, message, request_id)
                return failed("Sandbox.Timedout", message)
            healthy = True
            if not response.get("ok"):
                return failed(
                    response["errorType"], response["errorMessage"], tuple(response.get("stackTrace", ()))
                )
            duration = (time.monotonic() - started) * 1000
            return InvocationResult(
                logical_id, request_id, payload=response.get("payload"), duration_ms=duration
            )
        except _WorkerGone:
            code = worker.process.wait(timeout=5)
            return failed(
                "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with code {code}"
            )
        finally:
            pool.release(worker, healthy=healthy)

    def close(self) -> None:
        """Stop every worker."""
        for pool in self._pools.values():
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
