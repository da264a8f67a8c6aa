"""Provisioning the real template.yaml into DynamoDB Local and moto."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from contactsync_ops.local_stack.endpoints import LocalEndpoints
from contactsync_ops.local_stack.provisioning import provision_stack
from contactsync_ops.local_stack.template_model import load_local_template

pytestmark = pytest.mark.integration

PROJECT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def test_the_templates_tables_queues_and_secrets_are_created(local_endpoints: LocalEndpoints) -> None:
    # Given the project template resolved for a fresh stack name on moto's endpoint
    template = load_local_template(
        PROJECT_TEMPLATE, stack_name=f"it-{uuid.uuid4().hex[:8]}", sqs_endpoint_url=local_endpoints.moto
    )
    # When it is provisioned (twice: a restart must not fail on what exists)
    provision_stack(template, local_endpoints, max_visibility_timeout=2)
    resources = provision_stack(template, local_endpoints, max_visibility_timeout=2)

    # Then every table exists with its keys, GSIs and TTL
    dynamodb = local_endpoints.dynamodb_client()
    assert set(resources.tables) == set(template.tables)
    contacts = dynamodb.describe_table(TableName=resources.tables["ContactsTable"].name)["Table"]
    assert [index["IndexName"] for index in contacts.get("GlobalSecondaryIndexes", [])] == ["gsi1"]
    ttl = dynamodb.describe_time_to_live(TableName=resources.tables["ContactsTable"].name)
    assert ttl["TimeToLiveDescription"].get("AttributeName") == "expires_at"

    # And every queue exists, the push queue redriving to its DLQ with a capped visibility timeout
    sqs = local_endpoints.sqs_client()
    assert set(resources.queues) == set(template.queues)
    push = resources.queues["PushQueue"]
    assert push.url == template.queues["PushQueue"].url
    attributes = sqs.get_queue_attributes(QueueUrl=push.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "2"
    policy = json.loads(attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == resources.queues["PushDeadLetterQueue"].arn
    assert int(policy["maxReceiveCount"]) == 14

    # And the secrets hold their first value
    secrets = local_endpoints.secrets_manager_client()
    value = secrets.get_secret_value(SecretId=resources.secrets["DestinationCredentialsSecret"].name)
    assert "_bootstrap" in json.loads(value["SecretString"])
