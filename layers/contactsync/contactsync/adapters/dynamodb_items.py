"""Conversion between plain Python values and DynamoDB's attribute-value format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from contactsync.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, KeysAndAttributesTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def to_item(values: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    """Serialise a flat mapping, dropping None (DynamoDB has no use for absent values)."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Deserialise an item; integral numbers come back as int."""
    plain = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return {key: _plain_number(value) for key, value in plain.items()}


def _plain_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


BATCH_GET_LIMIT = 100


def batch_get_items(
    client: DynamoDBClient, table: str, keys: Sequence[Mapping[str, Any]], *, consistent: bool
) -> list[dict[str, Any]]:
    """Every item found for ``keys``, 100 keys a BatchGetItem, unprocessed keys retried."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, KeysAndAttributesTypeDef] = {
            table: {
                "Keys": [to_item(key) for key in keys[start : start + BATCH_GET_LIMIT]],
                "ConsistentRead": consistent,
            }
        }
        while request:
            try:
                response = client.batch_get_item(RequestItems=request)
            except ClientError as error:
                raise_if_unavailable(error)
                raise
            found.extend(from_item(raw) for raw in response.get("Responses", {}).get(table, []))
            request = cast("dict[str, KeysAndAttributesTypeDef]", response.get("UnprocessedKeys", {}))
    return found


BATCH_WRITE_LIMIT = 25


def batch_write_items(client: DynamoDBClient, table: str, requests: Sequence[Mapping[str, Any]]) -> None:
    """Put or delete requests, 25 a BatchWriteItem, unprocessed items sent again."""
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: list(requests[start : start + BATCH_WRITE_LIMIT])}
        while pending:
            try:
                response = client.batch_write_item(RequestItems=pending)
            except ClientError as error:
                raise_if_unavailable(error)
                raise
            pending = dict(response.get("UnprocessedItems", {}))


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def raise_if_unavailable(error: ClientError) -> None:
    """Throttling and server faults become ``ServiceUnavailable`` so callers answer 503, not 500."""
    if error_code(error) in RETRYABLE_ERROR_CODES:
        raise ServiceUnavailable("the contact store is busy") from error
