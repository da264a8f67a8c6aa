"""A schedule fires its function with EventBridge's Scheduled Event."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from contactsync_ops.local_stack.endpoints import LocalEndpoints
from contactsync_ops.local_stack.lambda_runtime import LambdaRuntime
from contactsync_ops.local_stack.scheduler import ScheduleRunner
from contactsync_ops.local_stack.template_model import load_local_template

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.integration

TEMPLATE = """
Resources:
  Tick:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tick/
      Handler: app.lambda_handler
      Runtime: python3.13
      Environment: {Variables: {RECORD_FILE: "{record_file}"}}
      Events:
        Every: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}
        Nightly: {Type: Schedule, Properties: {Schedule: "cron(0 3 * * ? *)"}}
        Off: {Type: Schedule, Properties: {Schedule: rate(2 minutes), Enabled: false}}
"""

TICK = """
import json, os

def lambda_handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as record:
        record.write(json.dumps(event) + "\\n")
"""


def test_a_rate_schedule_fires_a_scheduled_event(
    tmp_path: Path, tiny_project: Callable[[str, dict[str, str]], Path]
) -> None:
    # Given a function with a rate, a cron and a disabled schedule
    record_file = tmp_path / "events.jsonl"
    template = load_local_template(
        tiny_project(TEMPLATE.replace("{record_file}", str(record_file)), {"tick": TICK}), stack_name="sched"
    )
    with LambdaRuntime(
        template.functions, endpoints=LocalEndpoints("http://127.0.0.1:9", "http://127.0.0.1:9")
    ) as rt:
        runner = ScheduleRunner(template.functions, rt)
        # Then only the enabled ones are targets, the cron one without a period
        assert [(t.schedule.event_id, t.period_seconds) for t in runner.targets] == [
            ("Every", 60),
            ("Nightly", None),
        ]
        # When the rate schedule fires
        runner.fire(runner.targets[0])
    # Then the function got EventBridge's Scheduled Event for its rule
    (event,) = [json.loads(line) for line in record_file.read_text().splitlines()]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:ca-central-1:000000000000:rule/sched-TickEvery"]
