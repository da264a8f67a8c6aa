"""The local endpoints and the boto3 settings that point AWS SDKs at them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

LOCAL_REGION = "ca-central-1"
DUMMY_ACCESS_KEY_ID = "local"
DUMMY_SECRET_ACCESS_KEY = "local"  # noqa: S105 - neither DynamoDB Local nor moto checks it

#: boto3's per-service endpoint variables, and which local server answers each.
MOTO_SERVICES = ("SQS", "SECRETS_MANAGER", "S3", "SESV2", "SES", "STS")


@dataclass(frozen=True)
class LocalEndpoints:
    """DynamoDB Local's endpoint and moto's (which serves every other service)."""

    dynamodb: str
    moto: str
    region: str = LOCAL_REGION

    def aws_environment(self) -> dict[str, str]:
        """Variables that make any boto3 client in a process use the local stack, no code change."""
        environment = {
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        }
        environment.update({f"AWS_ENDPOINT_URL_{service}": self.moto for service in MOTO_SERVICES})
        return environment

    def by_service(self) -> dict[str, str]:
        """Endpoint per boto3 service name (``dynamodb``, ``sqs``, ``secretsmanager``...), plus ``moto``."""
        endpoints = {"dynamodb": self.dynamodb, "moto": self.moto}
        endpoints.update(dict.fromkeys(("sqs", "secretsmanager", "s3", "sesv2", "ses", "sts"), self.moto))
        return endpoints

    def _client_kwargs(self, endpoint_url: str) -> dict[str, Any]:
        return {
            "endpoint_url": endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": DUMMY_ACCESS_KEY_ID,
            "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY,
            "config": Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=30),
        }

    def dynamodb_client(self) -> DynamoDBClient:
        return boto3.client("dynamodb", **self._client_kwargs(self.dynamodb))

    def sqs_client(self) -> SQSClient:
        return boto3.client("sqs", **self._client_kwargs(self.moto))

    def secrets_manager_client(self) -> SecretsManagerClient:
        return boto3.client("secretsmanager", **self._client_kwargs(self.moto))

    def s3_client(self) -> S3Client:
        return boto3.client("s3", **self._client_kwargs(self.moto))
