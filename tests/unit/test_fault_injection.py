"""The fault injector: plans, seeded repeatability, errors as AWS sends them, retried by botocore, counted.

No network: every attempt is answered by the injector itself (share 1) or refused by
an endpoint on a closed loopback port that is never reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from contactsync_ops.fault_injection import (
    FaultPlan,
    FaultPlanError,
    install,
    read_injected_counts,
)

if TYPE_CHECKING:
    from pathlib import Path

UNREACHABLE = "http://127.0.0.1:9"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="ca-central-1")


def client(boto_session: boto3.Session, service: str, config: Config = NO_RETRIES) -> Any:
    return boto_session.client(service, endpoint_url=UNREACHABLE, config=config)  # type: ignore[call-overload]


def test_a_plan_names_shares_per_service_and_per_operation_with_a_seed() -> None:
    # When a plan is read
    plan = FaultPlan.parse("dynamodb=0.2, sqs=0.1, sqs.SendMessage=1, seed=7")

    # Then each operation gets its share; an operation's own share wins over its service's
    assert plan.share_for("dynamodb", "TransactWriteItems") == 0.2
    assert plan.share_for("sqs", "SendMessageBatch") == 0.1
    assert plan.share_for("sqs", "SendMessage") == 1.0
    # And an SQS share fails what the product sends, not the runner's receives
    assert plan.share_for("sqs", "ReceiveMessage") == 0.0
    assert plan.seed == 7
    assert FaultPlan.parse(plan.describe()) == plan


@pytest.mark.parametrize("text", ["dynamodb", "dynamodb=2", "s3=0.1", "dynamodb=abc", "seed=x"])
def test_a_plan_that_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(FaultPlanError):
        FaultPlan.parse(text)


def test_the_plan_comes_from_the_environment_only_when_set() -> None:
    assert FaultPlan.from_environment({}) is None
    assert FaultPlan.from_environment({"CONTACTSYNC_FAULTS": " "}) is None
    plan = FaultPlan.from_environment({"CONTACTSYNC_FAULTS": "dynamodb=0.5"})
    assert plan is not None
    assert plan.share_for("dynamodb", "GetItem") == 0.5


def test_an_injected_throttle_reaches_the_caller_as_the_error_aws_sends() -> None:
    # Given every DynamoDB attempt fails, and a client without retries
    boto_session = session()
    counter = install(FaultPlan.parse("dynamodb=1,seed=1"), events=boto_session.events)
    dynamodb = client(boto_session, "dynamodb")

    # When the product reads an item
    with pytest.raises(ClientError) as raised:
        dynamodb.get_item(TableName="contacts", Key={"pk": {"S": "a"}})

    # Then it sees one of DynamoDB's own fault codes, and the fault is counted
    assert raised.value.response["Error"]["Code"] in {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "InternalServerError",
    }
    assert counter.counts() == {"dynamodb": 1}


def test_faults_are_per_attempt_so_botocore_retries_them() -> None:
    # Given every SQS send attempt fails and the client retries (standard mode, 2 retries)
    boto_session = session()
    counter = install(FaultPlan.parse("sqs=1"), events=boto_session.events)
    sqs = client(boto_session, "sqs", Config(retries={"mode": "standard", "total_max_attempts": 3}))

    # When a message is sent
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=f"{UNREACHABLE}/000000000000/q", MessageBody="x")

    # Then botocore retried it: three attempts, three faults, and the last one surfaces
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert counter.counts() == {"sqs": 3}
    assert raised.value.response["Error"]["Code"] in {"InternalError", "RequestThrottled"}


def test_the_same_seed_fails_the_same_attempts() -> None:
    def run() -> list[str]:
        boto_session = session()
        install(FaultPlan.parse("dynamodb=0.5,seed=42"), events=boto_session.events)
        dynamodb = client(boto_session, "dynamodb")
        outcomes = []
        for _ in range(12):
            try:
                dynamodb.get_item(TableName="contacts", Key={"pk": {"S": "a"}})
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
            except EndpointConnectionError:  # let through: the closed port refuses the connection
                outcomes.append("passed")
        return outcomes

    first = run()
    assert first == run()
    assert "passed" in first
    assert set(first) - {"passed"}


def test_counts_are_written_per_process_and_summed(tmp_path: Path) -> None:
    # Given a plan installed with a state folder, and a count file another worker left there
    (tmp_path / "faults").mkdir()
    (tmp_path / "faults" / "injected-1.json").write_text('{"dynamodb": 2, "sqs": 1}')
    boto_session = session()
    counter = install(FaultPlan.parse("dynamodb=1"), events=boto_session.events, state_dir=tmp_path)

    # When two DynamoDB calls fail
    dynamodb = client(boto_session, "dynamodb")
    for _ in range(2):
        with pytest.raises(ClientError):
            dynamodb.get_item(TableName="contacts", Key={"pk": {"S": "a"}})

    # Then the totals over every process's file include both
    assert counter.total == 2
    assert read_injected_counts(tmp_path) == {"dynamodb": 4, "sqs": 1}


def test_stopping_injection_lets_calls_through_again() -> None:
    boto_session = session()
    counter = install(FaultPlan.parse("dynamodb=1"), events=boto_session.events)
    counter.stop_injecting()
    dynamodb = client(boto_session, "dynamodb")
    with pytest.raises(EndpointConnectionError):  # the closed port: the call really went out
        dynamodb.get_item(TableName="contacts", Key={"pk": {"S": "a"}})
    assert counter.total == 0
