"""Small DynamoDB items that guard behaviour: the suppression list and per-minute rate counters."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from contactsync.adapters.dynamodb_items import batch_get_items, from_item, raise_if_unavailable, to_item

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

SUPPRESSED_SK = "SUPPRESSED"
RATE_SK = "RATE"


class DynamoSuppressionList:
    """``SuppressionList``: only an HMAC of the identity is stored, so erasure keeps the opt-out.

    The key comes from Secrets Manager; without it the hashes cannot be matched
    to addresses by trying a dictionary of them.
    """

    def __init__(self, client: DynamoDBClient, table_name: str, key: Callable[[], bytes]) -> None:
        self._client = client
        self._table = table_name
        self._key = key

    def _pk(self, identity_key: str) -> str:
        digest = hmac.new(self._key(), identity_key.encode(), hashlib.sha256).hexdigest()
        return f"SUPPRESSED#{digest}"

    def is_suppressed(self, identity_key: str) -> bool:
        try:
            found = self._client.get_item(
                TableName=self._table, Key=to_item({"pk": self._pk(identity_key), "sk": SUPPRESSED_SK})
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return "Item" in found

    def suppressed_among(self, identity_keys: Sequence[str]) -> set[str]:
        by_pk = {self._pk(key): key for key in dict.fromkeys(identity_keys)}
        keys = [{"pk": pk, "sk": SUPPRESSED_SK} for pk in by_pk]
        return {
            by_pk[str(item["pk"])]
            for item in batch_get_items(self._client, self._table, keys, consistent=False)
        }

    def suppress(self, identity_key: str) -> None:
        try:
            self._client.put_item(
                TableName=self._table, Item=to_item({"pk": self._pk(identity_key), "sk": SUPPRESSED_SK})
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise


class DynamoRateLimiter:
    """``RateLimiter``: one atomic counter per key and minute, cleaned by TTL."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def allow(self, key: str, limit: int, now: datetime, window_seconds: int = 60) -> bool:
        window = int(now.timestamp()) // window_seconds
        expires = int((now + timedelta(seconds=2 * window_seconds)).timestamp())
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=to_item({"pk": f"RATE#{key}#{window_seconds}#{window}", "sk": RATE_SK}),
                UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)",
                ExpressionAttributeValues=to_item({":one": 1, ":expires": expires}),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        hits = int(from_item(response.get("Attributes", {})).get("hits", 0))
        return hits <= limit
