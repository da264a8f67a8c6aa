"""Small cached factories for AWS clients: one client per service and container.

Endpoints come only from boto3's own variables (``AWS_ENDPOINT_URL_DYNAMODB`` ...),
so the same code talks to AWS, DynamoDB Local or moto. Clients, not resources:
they cost a fraction of the cold start.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=20,
)


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CLIENT_CONFIG)


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    return boto3.client("sqs", config=_CLIENT_CONFIG)


@lru_cache(maxsize=1)
def secrets_manager_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=_CLIENT_CONFIG)


@lru_cache(maxsize=1)
def sesv2_client() -> SESV2Client:
    return boto3.client("sesv2", config=_CLIENT_CONFIG)


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    return boto3.client("s3", config=_CLIENT_CONFIG)
