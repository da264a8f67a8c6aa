"""Conversion between plain Python values and DynamoDB's attribute-value format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from contactsync.errors import DependencyThrottled, ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesTypeDef,
        TransactWriteItemTypeDef,
    )

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

THROTTLING_ERROR_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable"})
RETRYABLE_ERROR_CODES = THROTTLING_ERROR_CODES | SERVER_ERROR_CODES


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
READ_CONCURRENCY = 4


@lru_cache(maxsize=1)
def _read_pool() -> ThreadPoolExecutor:
    """Threads that send one read's BatchGetItem chunks together, built once per container.

    Reading 500 keys is five calls; sent one after another the caller waits five round trips,
    sent together about one. boto3 clients are thread-safe and keep a pool of connections.
    """
    return ThreadPoolExecutor(max_workers=READ_CONCURRENCY, thread_name_prefix="dynamodb-read")


def batch_get_items(
    client: DynamoDBClient, table: str, keys: Sequence[Mapping[str, Any]], *, consistent: bool
) -> list[dict[str, Any]]:
    """Every item found for ``keys``: 100 keys a BatchGetItem, chunks sent together, retries unprocessed."""
    chunks = [keys[start : start + BATCH_GET_LIMIT] for start in range(0, len(keys), BATCH_GET_LIMIT)]
    if len(chunks) <= 1:
        return [item for chunk in chunks for item in _batch_get_chunk(client, table, chunk, consistent)]
    pool = _read_pool()
    futures = [pool.submit(_batch_get_chunk, client, table, chunk, consistent) for chunk in chunks]
    return [item for future in futures for item in future.result()]


def _batch_get_chunk(
    client: DynamoDBClient, table: str, keys: Sequence[Mapping[str, Any]], consistent: bool
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    request: dict[str, KeysAndAttributesTypeDef] = {
        table: {"Keys": [to_item(key) for key in keys], "ConsistentRead": consistent}
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
    """Faults that outlived botocore's retries become typed errors, so callers answer 429 or 503, never 500.

    Throttling says "slow down" (``DependencyThrottled``, 429); a server fault says
    "try again" (``ServiceUnavailable``, 503). Anything else is a bug and stays as it is.
    """
    code = error_code(error)
    if code in THROTTLING_ERROR_CODES:
        raise DependencyThrottled("the contact store is throttling requests") from error
    if code in SERVER_ERROR_CODES or _status(error) >= 500:
        raise ServiceUnavailable("the contact store is unavailable") from error


TRANSACTION_THROTTLING_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def transact_write(client: DynamoDBClient, actions: Sequence[TransactWriteItemTypeDef]) -> bool:
    """Write all or nothing; False when a condition failed (someone else wrote first).

    Throttling and faults that outlived botocore's retries are typed (429 / 503), never a 500.
    """
    if not actions:
        return True
    try:
        client.transact_write_items(TransactItems=list(actions))
    except ClientError as error:
        if error_code(error) == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons", [])
            if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                return False
            raise_transaction_cancelled(error)
        raise_if_unavailable(error)
        raise
    return True


def raise_transaction_cancelled(error: ClientError) -> None:
    """A transaction cancelled for another reason than a failed condition: throttled (429) or busy (503)."""
    reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
    if reasons & TRANSACTION_THROTTLING_REASONS:
        raise DependencyThrottled("the contact store is throttling requests") from error
    raise ServiceUnavailable("the contact store is busy") from error


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
