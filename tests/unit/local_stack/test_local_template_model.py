"""template.yaml as the local stack reads it: resources, intrinsics, functions and their events."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from contactsync_ops.local_stack.template_model import (
    LocalTemplate,
    TemplateError,
    load_local_template,
    load_template_document,
)

PROJECT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
MOTO = "http://127.0.0.1:5999"
STACK = "contactsync-local"


@pytest.fixture(scope="module")
def project_template() -> LocalTemplate:
    return load_local_template(PROJECT_TEMPLATE, sqs_endpoint_url=MOTO)


def write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_short_tags_are_read_as_long_form() -> None:
    # Given the project template with !Ref / !GetAtt / !Sub / !If short tags
    # When it is loaded as a document
    document = load_template_document(PROJECT_TEMPLATE)
    # Then the short tags are CloudFormation's long form
    redrive = document["Resources"]["PushQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["PushDeadLetterQueue", "Arn"]}
    assert document["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }


def test_push_queue_redrives_to_the_dead_letter_queue_arn(project_template: LocalTemplate) -> None:
    # Given the project template resolved for the local stack
    # When the push queue's attributes are read
    attributes = project_template.queues["PushQueue"].attributes
    # Then its RedrivePolicy names the DLQ's local ARN and the template's maxReceiveCount
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy == {
        "deadLetterTargetArn": f"arn:aws:sqs:ca-central-1:000000000000:{STACK}-PushDeadLetterQueue",
        "maxReceiveCount": 14,
    }
    assert attributes["VisibilityTimeout"] == "400"
    assert project_template.queues["PushQueue"].dead_letter_logical_id == "PushDeadLetterQueue"


def test_dead_letter_queues_are_created_first(project_template: LocalTemplate) -> None:
    # Given a queue whose RedrivePolicy points at another queue
    # When the creation order is asked for
    order = [queue.logical_id for queue in project_template.queues_in_creation_order()]
    # Then the dead-letter queue comes before the queue that uses it
    assert order.index("PushDeadLetterQueue") < order.index("PushQueue")


def test_queue_refs_are_urls_on_the_local_endpoint(project_template: LocalTemplate) -> None:
    # Given the template loaded with moto's endpoint
    # Then Ref PushQueue is the queue URL moto will answer with
    queue = project_template.queues["PushQueue"]
    assert queue.url == f"{MOTO}/000000000000/{STACK}-PushQueue"


def test_tables_are_create_table_arguments_with_ttl(project_template: LocalTemplate) -> None:
    # Given the contacts table with a GSI, TTL, PITR and SSE in the template
    contacts = project_template.tables["ContactsTable"]
    # Then boto3 create_table arguments carry keys and the GSI, and AWS-only settings are left out
    assert contacts.name == f"{STACK}-ContactsTable"
    assert contacts.create_kwargs["TableName"] == contacts.name
    assert contacts.create_kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert contacts.create_kwargs["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert "PointInTimeRecoverySpecification" not in contacts.create_kwargs
    assert "SSESpecification" not in contacts.create_kwargs
    assert contacts.ttl_attribute == "expires_at"
    assert project_template.tables["IdempotencyTable"].ttl_attribute == "expiration"


def test_functions_get_the_globals_environment(project_template: LocalTemplate) -> None:
    # Given Globals.Function.Environment with Refs to tables, the queue and the secret
    global_names = set(
        load_template_document(PROJECT_TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    )
    for function in project_template.functions.values():
        # Then every function has them, resolved to local names, as strings
        assert global_names <= set(function.environment)
        assert all(isinstance(value, str) for value in function.environment.values())
        assert function.environment["POWERTOOLS_SERVICE_NAME"] == "contactsync"
        assert function.environment["CONTACTSYNC_STAGE"] == "dev"
        assert function.environment["CONTACTSYNC_CONTACTS_TABLE"] == f"{STACK}-ContactsTable"
        assert function.environment["CONTACTSYNC_IDEMPOTENCY_TABLE"] == f"{STACK}-IdempotencyTable"
        assert function.environment["CONTACTSYNC_PUSH_QUEUE_URL"] == f"{MOTO}/000000000000/{STACK}-PushQueue"
        assert (
            function.environment["CONTACTSYNC_DESTINATION_SECRET_ID"]
            == f"{STACK}-DestinationCredentialsSecret"
        )
        assert function.handler == "app.lambda_handler"
        # Globals give 512 MB; the Sync function asks for more (it holds a page of an import)
        assert function.memory_size_mb == (1024 if function.logical_id == "SyncFunction" else 512)
        assert function.layer_dirs == (PROJECT_TEMPLATE.parent / "layers" / "contactsync",)


def test_function_settings_override_globals(project_template: LocalTemplate) -> None:
    functions = project_template.functions
    assert functions["IngestFunction"].timeout_seconds == 30
    assert functions["PushFunction"].timeout_seconds == 60
    assert functions["SyncFunction"].timeout_seconds == 900
    assert functions["IngestFunction"].code_dir == PROJECT_TEMPLATE.parent / "functions" / "ingest"


def test_api_routes_are_the_templates(project_template: LocalTemplate) -> None:
    # When the Api events of all functions are collected
    routes = {
        (route.method, route.path, logical_id)
        for logical_id, function in project_template.functions.items()
        for route in function.api_routes
    }
    # Then they are exactly the template's, on the Stage parameter's stage
    assert routes == {
        ("POST", "/v1/sources/{source_id}/contacts", "IngestFunction"),
        ("GET", "/v1/confirm/{token}", "OptInFunction"),
        ("POST", "/v1/confirm/{token}", "OptInFunction"),
        ("GET", "/v1/unsubscribe/{token}", "OptInFunction"),
        ("POST", "/v1/unsubscribe/{token}", "OptInFunction"),
    }
    assert {r.stage for f in project_template.functions.values() for r in f.api_routes} == {"dev"}


def test_schedule_and_sqs_events(project_template: LocalTemplate) -> None:
    (schedule,) = project_template.functions["SyncFunction"].schedules
    assert schedule.expression == "rate(5 minutes)"
    assert schedule.enabled
    (mapping,) = project_template.functions["PushFunction"].sqs_events
    assert mapping.queue_logical_id == "PushQueue"
    assert mapping.batch_size == 500
    assert mapping.batching_window_seconds == 10
    assert mapping.reports_batch_item_failures


def test_parameter_overrides_flow_into_events_and_environment() -> None:
    # Given overrides for the stage, log level and batching window
    template = load_local_template(
        PROJECT_TEMPLATE,
        stack_name="other",
        parameter_overrides={"Stage": "prod", "LogLevel": "DEBUG", "PushBatchingWindowSeconds": "3"},
    )
    # Then they reach the functions
    push = template.functions["PushFunction"]
    assert push.sqs_events[0].batching_window_seconds == 3
    assert push.environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert push.environment["CONTACTSYNC_CONTACTS_TABLE"] == "other-ContactsTable"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Stage": "qa"}, "not one of"),
        ({"Nope": "1"}, "not declared"),
        ({"PushBatchingWindowSeconds": "301"}, "outside"),
    ],
)
def test_bad_parameter_overrides_are_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_local_template(PROJECT_TEMPLATE, parameter_overrides=overrides)


def test_secret_first_value_follows_generate_secret_string(project_template: LocalTemplate) -> None:
    # Given GenerateSecretString with a "{}" template and a generated key
    value = json.loads(project_template.secrets["DestinationCredentialsSecret"].initial_secret_string())
    # Then the secret starts as that object with a generated password under the key
    assert set(value) == {"_bootstrap"}
    assert len(value["_bootstrap"]) == 32


def test_intrinsics_sub_if_join_select_and_no_value(tmp_path: Path) -> None:
    # Given a template using Sub with attributes and escapes, If with NoValue, Join, Select and Split
    path = write_template(
        tmp_path,
        """
        Parameters:
          Flag: {Type: String, Default: "no"}
        Conditions:
          IsOn: !Equals [!Ref Flag, "yes"]
        Globals:
          Function:
            Runtime: python3.13
            Environment:
              Variables:
                QUEUE_ARN: !Sub "${Jobs.Arn}|${Jobs.QueueName}|${AWS::Region}|${!Literal}"
                JOINED: !Join ["-", [a, !Select [1, !Split [",", "x,y,z"]]]]
                OPTIONAL: !If [IsOn, "on", !Ref "AWS::NoValue"]
                NAMED: !Sub ["${Name}-${AWS::StackName}", {Name: custom}]
                NUMBER: 5
        Resources:
          Jobs:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Sub "${AWS::StackName}-jobs"
          Worker:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
        """,
    )
    # When it is loaded
    environment = load_local_template(path, stack_name="s1").functions["Worker"].environment
    # Then each intrinsic resolves as CloudFormation would
    assert environment == {
        "QUEUE_ARN": "arn:aws:sqs:ca-central-1:000000000000:s1-jobs|s1-jobs|ca-central-1|${Literal}",
        "JOINED": "a-y",
        "NAMED": "custom-s1",
        "NUMBER": "5",
    }


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("Topic: {Type: AWS::SNS::Topic}", "Resources.Topic: type AWS::SNS::Topic is not supported"),
        (
            "F: {Type: AWS::Serverless::Function, Properties: {CodeUri: f/, Handler: a.b,"
            " Runtime: python3.13, Events: {E: {Type: SNS, Properties: {Topic: x}}}}}",
            "Resources.F.Properties.Events.E: event type SNS is not supported",
        ),
        (
            "F: {Type: AWS::Serverless::Function,"
            " Properties: {CodeUri: f/, Handler: a.b, Runtime: nodejs20.x}}",
            "Runtime: 'nodejs20.x' is not supported",
        ),
        (
            "Q: {Type: AWS::SQS::Queue, Properties: {Tags: [], Weird: 1}}",
            "Resources.Q.Properties.Weird: queue property not supported",
        ),
        (
            "Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !ImportValue shared}}",
            "Fn::ImportValue is not supported",
        ),
        ("Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref Missing}}", "Ref Missing names no"),
    ],
)
def test_unsupported_constructs_are_named_in_the_error(tmp_path: Path, resources: str, message: str) -> None:
    # Given a template with something the local stack cannot play
    path = write_template(tmp_path, f"Resources:\n  {resources}\n")
    # When it is loaded, Then the error names the construct
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_local_template(path)


def test_resources_under_a_false_condition_are_left_out(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """
        Conditions:
          Never: !Equals ["a", "b"]
        Resources:
          Kept: {Type: AWS::SQS::Queue}
          Skipped: {Type: AWS::SQS::Queue, Condition: Never}
        """,
    )
    assert set(load_local_template(path).queues) == {"Kept"}


def test_invalid_yaml_is_a_template_error(tmp_path: Path) -> None:
    path = write_template(tmp_path, "Resources: {Q: {Type: AWS::SQS::Queue}\n")
    with pytest.raises(TemplateError, match="is not valid YAML"):
        load_local_template(path)
