"""LocalStack as a whole: stack.json while it runs, refusal of a second stack, clean stop."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import TYPE_CHECKING

import pytest

from contactsync_ops.local_stack.loopback_ports import LOOPBACK, PortInUseError
from contactsync_ops.local_stack.stack import LocalStack, LocalStackAlreadyRunningError, LocalStackOptions

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.integration

TEMPLATE = """
Parameters:
  Greeting: {Type: String, Default: hello}
Resources:
  Notes:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.lambda_handler
      Runtime: python3.13
      Environment: {Variables: {GREETING: !Ref Greeting, NOTES_TABLE: !Ref Notes}}
      Events:
        Get: {Type: Api, Properties: {Path: /hello, Method: get}}
"""

HELLO = """
import json, os
import boto3

def lambda_handler(event, context):
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    body = {"greeting": os.environ["GREETING"], "tables": tables, "table": os.environ["NOTES_TABLE"]}
    return {"statusCode": 200, "body": json.dumps(body)}
"""


def test_stack_runs_writes_its_state_and_refuses_a_second_start(
    tmp_path: Path, tiny_project: Callable[[str, dict[str, str]], Path]
) -> None:
    # Given a tiny project and a local stack on free ports with a parameter override
    template = tiny_project(TEMPLATE, {"hello": HELLO})
    options = LocalStackOptions(
        template_path=template, state_dir=tmp_path / "state", in_memory=True, gateway_port=0, dynamodb_port=0,
        moto_port=0, parameter_overrides={"Greeting": "bonjour"}, stack_name="life",
    )  # fmt: skip
    with LocalStack(options) as stack:
        # Then stack.json says where everything is
        state = json.loads((tmp_path / "state" / "stack.json").read_text())
        assert state["api_url"] == stack.state["api_url"]
        assert state["resources"] == {"Notes": "life-Notes"}
        assert state["endpoints"]["sqs"] == state["endpoints"]["moto"]
        assert state["routes"] == [
            {"method": "GET", "path": "/hello", "function": "Hello", "url": state["api_url"] + "/hello"}
        ]
        # And the function answers through the API, reaching DynamoDB Local through boto3's variables
        with urllib.request.urlopen(state["api_url"] + "/hello", timeout=30) as response:
            body = json.loads(response.read())
        assert body == {"greeting": "bonjour", "tables": ["life-Notes"], "table": "life-Notes"}
        # And a second stack on the same state directory is refused with a clear message
        with pytest.raises(LocalStackAlreadyRunningError, match="a local stack already runs"):
            LocalStack(options).start()
    # Then stopping removes stack.json
    assert not (tmp_path / "state" / "stack.json").exists()


def test_a_busy_port_is_reported_before_anything_starts(
    tmp_path: Path, tiny_project: Callable[[str, dict[str, str]], Path]
) -> None:
    # Given something already listening on the wanted API port
    template = tiny_project(TEMPLATE, {"hello": HELLO})
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        options = LocalStackOptions(template_path=template, state_dir=tmp_path / "state", in_memory=True,
                                    gateway_port=port, dynamodb_port=0, moto_port=0)  # fmt: skip
        # When a stack starts, Then it says the port is taken and that a stack probably runs
        with pytest.raises(PortInUseError, match=f"port {port} .API Gateway. is already in use"):
            LocalStack(options).start()
