"""The inside of a local Lambda container: one process, one function, warm between calls.

Started by lambda_runtime as ``python -m contactsync_ops.local_stack.lambda_worker``. It talks
to the runner over two inherited pipe descriptors (length-prefixed JSON), never over stdout,
because handlers log JSON lines to stdout exactly as in Lambda. Only the standard library is
imported here so the cold start is the handler's own.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import struct
import sys
import threading
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Send one message: 4-byte big-endian length, then UTF-8 JSON."""
    payload = json.dumps(message).encode()
    data = _HEADER.pack(len(payload)) + payload
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_exactly(fd: int, size: int) -> bytes | None:
    """Read ``size`` bytes, or None on end of file (the other side is gone)."""
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict[str, Any] | None:
    header = read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    payload = read_exactly(fd, _HEADER.unpack(header)[0])
    if payload is None:
        return None
    message: dict[str, Any] = json.loads(payload)
    return message


class LambdaContext:
    """The context object Lambda's Python runtime hands to a handler."""

    def __init__(self, request_id: str, deadline_epoch_ms: int, invoked_function_arn: str) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = request_id
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_epoch_ms = deadline_epoch_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_epoch_ms - int(time.time() * 1000))


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error)[1:],
    }


def _exit_when_orphaned(parent_pid: int) -> None:
    """A runner killed with SIGKILL cannot stop its workers: they notice and leave."""
    while True:
        time.sleep(1)
        if os.getppid() != parent_pid:
            os._exit(0)


def _inject_faults_if_asked() -> None:
    """Under ``contactsync dev --faults``, fail a share of AWS calls before the handler makes any client.

    Imported only then, so a normal worker's cold start stays the handler's own.
    """
    if os.environ.get("CONTACTSYNC_FAULTS"):
        from contactsync_ops.fault_injection import install_from_environment

        install_from_environment()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    arguments = parser.parse_args()
    threading.Thread(target=_exit_when_orphaned, args=(arguments.parent_pid,), daemon=True).start()

    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        _inject_faults_if_asked()
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, function_name)
    except BaseException as error:
        error_type = (
            "Runtime.HandlerNotFound" if isinstance(error, AttributeError) else "Runtime.ImportModuleError"
        )
        write_frame(arguments.write_fd, _error(error, error_type))
        return
    write_frame(arguments.write_fd, {"ok": True, "ready": True})

    while True:
        request = read_frame(arguments.read_fd)
        if request is None:
            return
        context = LambdaContext(
            request["request_id"], request["deadline_epoch_ms"], request["invoked_function_arn"]
        )
        response: dict[str, Any]
        try:
            result = handler(request["event"], context)
        except BaseException as error:
            response = _error(error)
        else:
            try:
                json.dumps(result)
            except (TypeError, ValueError) as error:
                response = _error(error, "Runtime.MarshalError")
            else:
                response = {"ok": True, "payload": result}
        sys.stdout.flush()
        sys.stderr.flush()
        write_frame(arguments.write_fd, response)


if __name__ == "__main__":
    main()
