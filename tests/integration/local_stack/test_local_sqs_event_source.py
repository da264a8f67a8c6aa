"""The SQS event source mapping emulation against moto, with a tiny consumer function."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from contactsync_ops.local_stack.lambda_runtime import LambdaRuntime
from contactsync_ops.local_stack.provisioning import provision_stack
from contactsync_ops.local_stack.sqs_event_source import SqsEventSourceMapping
from contactsync_ops.local_stack.template_model import load_local_template

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from mypy_boto3_sqs import SQSClient

    from contactsync_ops.local_stack.endpoints import LocalEndpoints

pytestmark = pytest.mark.integration

TEMPLATE = """
Resources:
  JobsDeadLetters:
    Type: AWS::SQS::Queue
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDeadLetters.Arn
        maxReceiveCount: 2
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: consumer/
      Handler: app.lambda_handler
      Runtime: python3.13
      Timeout: 5
      Environment:
        Variables:
          RECORD_FILE: {record_file}
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
"""

CONSUMER = """
import json, os

def lambda_handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as record:
        record.write(json.dumps(event) + "\\n")
    bodies = [r["body"] for r in event["Records"]]
    if "crash" in bodies:
        raise RuntimeError("consumer crashed")
    return {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"].startswith("fail")
    ]}
"""


@dataclass
class ConsumerSetup:
    mapping: SqsEventSourceMapping
    sqs: SQSClient
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    record_file: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.record_file.exists():
            return []
        return [json.loads(line) for line in self.record_file.read_text().splitlines()]

    def bodies_seen(self) -> list[str]:
        return [record["body"] for event in self.events() for record in event["Records"]]

    def counts(self, url: str) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds or ``timeout`` passes; the caller asserts what it expects."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def consumer(
    tmp_path: Path, local_endpoints: LocalEndpoints, tiny_project: Callable[[str, dict[str, str]], Path]
) -> Iterator[ConsumerSetup]:
    record_file = tmp_path / "events.jsonl"
    path = tiny_project(TEMPLATE.replace("{record_file}", str(record_file)), {"consumer": CONSUMER})
    template = load_local_template(path, stack_name=f"sqs-{uuid.uuid4().hex[:8]}",
                                   sqs_endpoint_url=local_endpoints.moto)  # fmt: skip
    resources = provision_stack(template, local_endpoints)
    jobs = resources.queues["Jobs"]
    with LambdaRuntime(template.functions, endpoints=local_endpoints) as runtime:
        sqs = local_endpoints.sqs_client()
        mapping = SqsEventSourceMapping(
            "Consumer", template.functions["Consumer"].sqs_events[0], queue_url=jobs.url, queue_arn=jobs.arn,
            runtime=runtime, sqs_client=sqs,
        )  # fmt: skip
        yield ConsumerSetup(
            mapping, sqs, jobs.url, jobs.arn, resources.queues["JobsDeadLetters"].url, record_file
        )
        mapping.stop()


def test_a_batch_reaches_the_consumer_in_lambdas_shape_and_is_deleted(consumer: ConsumerSetup) -> None:
    # Given three messages, one with message attributes
    consumer.sqs.send_message(
        QueueUrl=consumer.queue_url,
        MessageBody="one",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "contact.updated"}},
    )
    for body in ("two", "three"):
        consumer.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody=body)
    # When the event source polls once (gathering for the 1 s batching window)
    outcome = consumer.mapping.poll_once()
    # Then one event with the three records reached the function, in Lambda's SQS shape
    assert outcome is not None
    assert len(outcome.deleted) == 3
    (event,) = consumer.events()
    records = {record["body"]: record for record in event["Records"]}
    assert set(records) == {"one", "two", "three"}
    record = records["one"]
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "eventSource",
        "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == consumer.queue_arn
    assert record["awsRegion"] == "ca-central-1"
    # ("1" on a first delivery; "2" when a loaded machine let the 1 s visibility timeout pass first)
    assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "contact.updated", "stringListValues": [], "binaryListValues": [],
                 "dataType": "String"}
    }  # fmt: skip
    # And the successes are gone from the queue
    assert consumer.counts(consumer.queue_url) == (0, 0)


def test_a_reported_failure_comes_back_then_lands_in_the_dead_letter_queue(consumer: ConsumerSetup) -> None:
    # Given a good message and one the consumer reports in batchItemFailures
    consumer.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="ok-1")
    consumer.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="fail-1")
    # When the event source handles them (one batch, or two when SQS hands them out separately)
    deleted: list[str] = []
    kept: list[str] = []
    deadline = time.monotonic() + 10
    while len(deleted) + len(kept) < 2 and time.monotonic() < deadline:
        outcome = consumer.mapping.poll_once()
        if outcome is not None:
            deleted.extend(outcome.deleted)
            kept.extend(outcome.kept)
    # Then the success is deleted and the failure kept
    assert (len(deleted), len(kept)) == (1, 1)
    # When polling goes on (visibility timeout 1 s, maxReceiveCount 2)
    deadline = time.monotonic() + 15
    dead_letters: list[str] = []
    while time.monotonic() < deadline and not dead_letters:
        consumer.mapping.poll_once()
        received = consumer.sqs.receive_message(QueueUrl=consumer.dead_letter_url, WaitTimeSeconds=0)
        dead_letters = [message["Body"] for message in received.get("Messages", [])]
    # Then the failing message was handed to the function maxReceiveCount times, then moved to the DLQ
    assert dead_letters == ["fail-1"]
    # (twice, or once when both receives fell in one batching window: one hand-over per batch)
    assert consumer.bodies_seen().count("fail-1") in {1, 2}
    assert consumer.bodies_seen().count("ok-1") == 1
    assert consumer.counts(consumer.queue_url) == (0, 0)


def test_an_exception_keeps_the_whole_batch(consumer: ConsumerSetup) -> None:
    # Given a batch whose handler raises
    consumer.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="crash")
    consumer.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="fine")
    # When the event source handles it
    outcome = consumer.mapping.poll_once()
    # Then nothing is deleted: both come back once the visibility timeout (1 s) passes
    assert outcome is not None
    assert outcome.deleted == ()
    assert "consumer crashed" in outcome.reason
    wait_until(lambda: consumer.counts(consumer.queue_url) == (2, 0))
    assert consumer.counts(consumer.queue_url) == (2, 0)


def test_the_running_mapping_delivers_in_the_background(consumer: ConsumerSetup) -> None:
    # Given the mapping running in its thread
    before = set(threading.enumerate())
    consumer.mapping.start()
    (poller,) = [t for t in set(threading.enumerate()) - before if t.name.startswith("sqs-Consumer-")]
    # When a message is sent
    consumer.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="background")
    # Then the function gets it
    wait_until(lambda: "background" in consumer.bodies_seen(), timeout=10)
    assert consumer.bodies_seen() == ["background"]
    # When the mapping is stopped
    consumer.mapping.stop()
    # Then its polling thread has ended by the time stop returns (it is not left running)
    assert not poller.is_alive()
