"""The SQS event source's event shape and partial-failure rules; the schedule's rates and events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from contactsync_ops.local_stack.lambda_runtime import InvocationError, InvocationResult
from contactsync_ops.local_stack.scheduler import build_scheduled_event, parse_rate_seconds
from contactsync_ops.local_stack.sqs_event_source import build_sqs_event, settle_batch
from contactsync_ops.local_stack.template_model import ScheduleEvent, TemplateError

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

QUEUE_ARN = "arn:aws:sqs:ca-central-1:000000000000:s-PushQueue"


def received_message() -> MessageTypeDef:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "MD5OfBody": "md5",
        "Body": '{"change": 1}',
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "MessageAttributes": {
            "kind": {"StringValue": "contact.updated", "DataType": "String"},
            "blob": {"BinaryValue": b"\x01\x02", "DataType": "Binary"},
        },
    }


def test_sqs_event_has_lambdas_record_shape() -> None:
    # Given one message as ReceiveMessage returns it
    # When the event source builds the Lambda event
    event = build_sqs_event([received_message()], queue_arn=QUEUE_ARN, region="ca-central-1")
    # Then the record is shaped the way Lambda delivers SQS messages
    (record,) = event["Records"]
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": '{"change": 1}',
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {
            "kind": {
                "stringValue": "contact.updated",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": "AQI=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "ca-central-1",
    }


def result(payload: Any = None, error: InvocationError | None = None) -> InvocationResult:
    return InvocationResult("Push", "req", payload=payload, error=error)


IDS = ["a", "b", "c"]


@pytest.mark.parametrize("payload", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_success_responses_delete_the_whole_batch(payload: Any) -> None:
    outcome = settle_batch(IDS, result(payload), reports_batch_item_failures=True)
    assert outcome.deleted == ("a", "b", "c")
    assert outcome.kept == ()


def test_reported_failures_are_kept_and_the_rest_deleted() -> None:
    # Given a response naming one record in batchItemFailures
    outcome = settle_batch(IDS, result({"batchItemFailures": [{"itemIdentifier": "b"}]}),
                           reports_batch_item_failures=True)  # fmt: skip
    # Then only that record stays on the queue
    assert outcome.deleted == ("a", "c")
    assert outcome.kept == ("b",)


@pytest.mark.parametrize(
    "payload",
    [
        "not an object",
        {"batchItemFailures": "b"},
        {"batchItemFailures": [{"itemIdentifier": "zzz"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "b"}]},
    ],
)
def test_invalid_responses_fail_the_whole_batch(payload: Any) -> None:
    outcome = settle_batch(IDS, result(payload), reports_batch_item_failures=True)
    assert outcome.deleted == ()
    assert outcome.kept == ("a", "b", "c")


@pytest.mark.parametrize("reports", [True, False])
def test_errors_and_timeouts_fail_the_whole_batch(reports: bool) -> None:
    error = InvocationError("Sandbox.Timedout", "Task timed out after 60.00 seconds")
    outcome = settle_batch(IDS, result(error=error), reports_batch_item_failures=reports)
    assert outcome.kept == ("a", "b", "c")
    assert "Sandbox.Timedout" in outcome.reason


def test_without_report_batch_item_failures_the_response_is_ignored() -> None:
    outcome = settle_batch(IDS, result({"batchItemFailures": [{"itemIdentifier": "b"}]}),
                           reports_batch_item_failures=False)  # fmt: skip
    assert outcome.deleted == ("a", "b", "c")


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400),
     ("cron(0 12 * * ? *)", None)],
)  # fmt: skip
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert parse_rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "every 5 minutes"]
)
def test_invalid_rate_expressions_are_refused(expression: str) -> None:
    with pytest.raises(TemplateError, match="schedule expression"):
        parse_rate_seconds(expression)


def test_scheduled_event_shape() -> None:
    schedule = ScheduleEvent("DueJobs", "rate(5 minutes)", True, "s-SyncFunctionDueJobs")
    event = build_scheduled_event(schedule, region="ca-central-1", account_id="000000000000",
                                  now=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))  # fmt: skip
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"}  # fmt: skip
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-01-02T03:04:05Z"
    assert event["resources"] == ["arn:aws:events:ca-central-1:000000000000:rule/s-SyncFunctionDueJobs"]
    assert event["detail"] == {}
