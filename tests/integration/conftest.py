"""Shared integration fixtures: DynamoDB Local and moto, started once per session, on free ports."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
import urllib3.util.retry

from contactsync_ops.local_stack.dynamodb_local import DynamoDbLocal
from contactsync_ops.local_stack.endpoints import LocalEndpoints
from contactsync_ops.local_stack.moto_server import MotoServer

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    """Endpoint URL of an in-memory DynamoDB Local, stopped at the end of the session."""
    server = DynamoDbLocal(port=0, in_memory=True)
    server.start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL of a moto server (SQS, S3, SES, Secrets Manager) on loopback."""
    server = MotoServer(port=0)
    server.start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_endpoints(dynamodb_local: str, moto_server: str) -> LocalEndpoints:
    """Both endpoints, with ready-made boto3 clients."""
    return LocalEndpoints(dynamodb=dynamodb_local, moto=moto_server)


@pytest.fixture
def aws_local_env(local_endpoints: LocalEndpoints, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point every boto3 client made during the test at the local servers (dummy keys, local region)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    environment = local_endpoints.aws_environment()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture
def retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the session's retries ask for, in order (they still happen).

    urllib3 waits out a Retry-After or a backoff with its retry module's ``time.sleep``;
    recording it shows what the session asked for without timing the test.
    """
    waits: list[float] = []

    def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(urllib3.util.retry, "time", SimpleNamespace(time=time.time, sleep=recorded_sleep))
    return waits
