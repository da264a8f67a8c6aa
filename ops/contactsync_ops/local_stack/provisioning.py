"""Create the template's tables, queues and secrets in DynamoDB Local and moto.

Idempotent: what exists is kept (a dev database under .local survives restarts).
PointInTimeRecoverySpecification, SSESpecification, deletion protection, table class and
tags are AWS-only concerns (backup, encryption at rest, cost) and are not applied locally;
neither is queue encryption (SqsManagedSseEnabled / KMS).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from contactsync_ops.local_stack.endpoints import LocalEndpoints
    from contactsync_ops.local_stack.template_model import LocalTemplate, QueueSpec, SecretSpec, TableSpec

_QUEUE_ATTRIBUTES_AWS_ONLY = ("SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")


@dataclass(frozen=True)
class ProvisionedTable:
    name: str
    arn: str


@dataclass(frozen=True)
class ProvisionedQueue:
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class ProvisionedSecret:
    name: str
    arn: str


@dataclass(frozen=True)
class ProvisionedResources:
    """The resolved resource map: logical id -> local name / url / arn."""

    tables: dict[str, ProvisionedTable] = field(default_factory=dict)
    queues: dict[str, ProvisionedQueue] = field(default_factory=dict)
    secrets: dict[str, ProvisionedSecret] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)

    def physical_ids(self) -> dict[str, str]:
        """Logical id -> what ``Ref`` gives in CloudFormation: table name, queue URL, secret name."""
        ids = {logical_id: table.name for logical_id, table in self.tables.items()}
        ids.update({logical_id: queue.url for logical_id, queue in self.queues.items()})
        ids.update({logical_id: secret.name for logical_id, secret in self.secrets.items()})
        ids.update(self.buckets)
        return ids

    def as_json(self) -> dict[str, dict[str, dict[str, str]]]:
        return {
            "tables": {k: asdict(v) for k, v in self.tables.items()},
            "queues": {k: asdict(v) for k, v in self.queues.items()},
            "secrets": {k: asdict(v) for k, v in self.secrets.items()},
        }


def provision_tables(template: LocalTemplate, endpoints: LocalEndpoints) -> dict[str, ProvisionedTable]:
    """Create missing tables and switch TTL on where the template does."""
    client = endpoints.dynamodb_client()
    existing = set(client.get_paginator("list_tables").paginate().build_full_result().get("TableNames", []))
    provisioned: dict[str, ProvisionedTable] = {}
    for logical_id, table in template.tables.items():
        if table.name not in existing:
            client.create_table(**table.create_kwargs)
            client.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 1})
        _enable_ttl(client, table)
        arn = client.describe_table(TableName=table.name)["Table"]["TableArn"]
        provisioned[logical_id] = ProvisionedTable(name=table.name, arn=arn)
    return provisioned


def _enable_ttl(client: Any, table: TableSpec) -> None:
    if table.ttl_attribute is None:
        return
    current = client.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    client.update_time_to_live(
        TableName=table.name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
    )


def local_queue_attributes(queue: QueueSpec, max_visibility_timeout: int | None) -> dict[str, str]:
    """The queue's attributes as created locally: encryption dropped, visibility optionally capped.

    Capping VisibilityTimeout makes failed messages come back in seconds instead of minutes,
    so retries and the DLQ can be watched (and tested) quickly.
    """
    attributes = {k: v for k, v in queue.attributes.items() if k not in _QUEUE_ATTRIBUTES_AWS_ONLY}
    if max_visibility_timeout is not None:
        current = int(attributes.get("VisibilityTimeout", "30"))
        attributes["VisibilityTimeout"] = str(min(current, max_visibility_timeout))
    return attributes


def provision_queues(
    template: LocalTemplate, endpoints: LocalEndpoints, *, max_visibility_timeout: int | None = None
) -> dict[str, ProvisionedQueue]:
    """Create (or update) the queues, dead-letter queues first."""
    client = endpoints.sqs_client()
    provisioned: dict[str, ProvisionedQueue] = {}
    for queue in template.queues_in_creation_order():
        attributes = local_queue_attributes(queue, max_visibility_timeout)
        try:
            url = client.get_queue_url(QueueName=queue.name)["QueueUrl"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in (
                "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
            ):  # fmt: skip
                raise
            url = client.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        else:
            mutable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
            if mutable:
                client.set_queue_attributes(QueueUrl=url, Attributes=mutable)  # type: ignore[arg-type]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if arn != queue.arn or url != queue.url:
            raise RuntimeError(
                f"queue {queue.logical_id} was created as {url} ({arn}) but the template resolved it to "
                f"{queue.url} ({queue.arn}): the template must be loaded with moto's endpoint and account"
            )
        provisioned[queue.logical_id] = ProvisionedQueue(name=queue.name, url=url, arn=arn)
    return provisioned


def provision_secrets(template: LocalTemplate, endpoints: LocalEndpoints) -> dict[str, ProvisionedSecret]:
    """Create missing secrets with their first value; existing values are left alone."""
    client = endpoints.secrets_manager_client()
    provisioned: dict[str, ProvisionedSecret] = {}
    for logical_id, secret in template.secrets.items():
        provisioned[logical_id] = _ensure_secret(client, secret)
    return provisioned


def _ensure_secret(client: Any, secret: SecretSpec) -> ProvisionedSecret:
    try:
        arn = client.describe_secret(SecretId=secret.name)["ARN"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        kwargs: dict[str, Any] = {"Name": secret.name, "SecretString": secret.initial_secret_string()}
        if secret.description:
            kwargs["Description"] = secret.description.strip()
        arn = client.create_secret(**kwargs)["ARN"]
    return ProvisionedSecret(name=secret.name, arn=str(arn))


def provision_stack(
    template: LocalTemplate, endpoints: LocalEndpoints, *, max_visibility_timeout: int | None = None
) -> ProvisionedResources:
    """Create every table, queue and secret of the template; return what was made where."""
    return ProvisionedResources(
        tables=provision_tables(template, endpoints),
        queues=provision_queues(template, endpoints, max_visibility_timeout=max_visibility_timeout),
        secrets=provision_secrets(template, endpoints),
        buckets=provision_buckets(template, endpoints),
    )


def provision_buckets(template: LocalTemplate, endpoints: LocalEndpoints) -> dict[str, str]:
    """Create the template's S3 buckets in moto (skip existing)."""
    client = endpoints.s3_client()
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    for name in template.buckets.values():
        if name not in existing:
            configuration: Any = {"LocationConstraint": endpoints.region}
            client.create_bucket(Bucket=name, CreateBucketConfiguration=configuration)
    return dict(template.buckets)
