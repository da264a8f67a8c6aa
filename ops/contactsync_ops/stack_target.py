"""Which contactsync stack the CLI works on: the running local stack, or a deployed one.

Local: read from ``<state dir>/stack.json``, written by ``contactsync dev``.
Deployed: the CloudFormation outputs of ``--stack-name`` (credentials from the
usual AWS chain).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient


class TargetNotFound(RuntimeError):
    """No stack to work on; the message says how to get one."""


@dataclass(frozen=True)
class StackTarget:
    api_url: str
    contacts_table: str
    push_queue_url: str
    push_dead_letter_queue_url: str
    destination_secret_id: str
    source_secret_id: str
    suppression_key_secret_id: str
    sync_queue_url: str
    import_bucket: str
    job_secret_id: str
    mail_queue_url: str
    region: str
    mail_dead_letter_queue_url: str = ""
    sync_dead_letter_queue_url: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)

    def _client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoints.get(service),
            **self.credentials,
        )

    def dead_letter_queues(self, queue: str) -> tuple[str, str]:
        """The dead-letter queue of ``push``, ``mail`` or ``sync``, and the queue it redrives to."""
        pairs = {
            "push": (self.push_dead_letter_queue_url, self.push_queue_url),
            "mail": (self.mail_dead_letter_queue_url, self.mail_queue_url),
            "sync": (self.sync_dead_letter_queue_url, self.sync_queue_url),
        }
        dead, source = pairs[queue]
        if not dead or not source:
            raise TargetNotFound(f"this stack does not say where its {queue} queues are (outputs missing)")
        return dead, source

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs")
        return client

    def s3(self) -> S3Client:
        client: S3Client = self._client("s3")
        return client

    def secrets_manager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self._client("secretsmanager")
        return client


def local_target(state_dir: Path) -> StackTarget:
    state_file = state_dir / "stack.json"
    if not state_file.exists():
        raise TargetNotFound(f"no local stack runs ({state_file} is missing): start one with `make run`")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    resources = state["resources"]
    return StackTarget(
        api_url=state["api_url"],
        contacts_table=resources["ContactsTable"],
        push_queue_url=resources["PushQueue"],
        push_dead_letter_queue_url=resources["PushDeadLetterQueue"],
        destination_secret_id=resources["DestinationCredentialsSecret"],
        source_secret_id=resources["SourceSigningSecret"],
        suppression_key_secret_id=resources["SuppressionKeySecret"],
        sync_queue_url=resources["SyncQueue"],
        import_bucket=resources["ImportBucket"],
        job_secret_id=resources["JobCredentialsSecret"],
        mail_queue_url=resources["MailQueue"],
        mail_dead_letter_queue_url=resources["MailDeadLetterQueue"],
        sync_dead_letter_queue_url=resources["SyncDeadLetterQueue"],
        region=state["region"],
        endpoints=dict(state["endpoints"]),
        credentials={"aws_access_key_id": "local", "aws_secret_access_key": "local"},
    )


def deployed_target(stack_name: str, region: str | None) -> StackTarget:
    cloudformation = boto3.client("cloudformation", region_name=region)
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
    missing = {"ApiUrl", "ContactsTableName", "PushQueueUrl"} - outputs.keys()
    if missing:
        raise TargetNotFound(
            f"stack {stack_name} lacks the outputs {sorted(missing)}; is it a contactsync stack?"
        )
    return StackTarget(
        api_url=outputs["ApiUrl"],
        contacts_table=outputs["ContactsTableName"],
        push_queue_url=outputs["PushQueueUrl"],
        push_dead_letter_queue_url=outputs.get("PushDeadLetterQueueUrl", ""),
        destination_secret_id=outputs.get("DestinationCredentialsSecretArn", ""),
        source_secret_id=outputs.get("SourceSigningSecretArn", ""),
        suppression_key_secret_id=outputs.get("SuppressionKeySecretArn", ""),
        sync_queue_url=outputs.get("SyncQueueUrl", ""),
        import_bucket=outputs.get("ImportBucketName", ""),
        job_secret_id=outputs.get("JobCredentialsSecretArn", ""),
        mail_queue_url=outputs.get("MailQueueUrl", ""),
        mail_dead_letter_queue_url=outputs.get("MailDeadLetterQueueUrl", ""),
        sync_dead_letter_queue_url=outputs.get("SyncDeadLetterQueueUrl", ""),
        region=cloudformation.meta.region_name,
    )


def resolve_target(stack_name: str | None, region: str | None, state_dir: Path) -> StackTarget:
    return deployed_target(stack_name, region) if stack_name else local_target(state_dir)
