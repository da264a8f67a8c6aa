"""The outbox in the contacts table: messages SQS did not take, until the Sync tick queues them.

Layout: ``pk=OUTBOX, sk=<hold key>`` with the message as JSON and a TTL. One
partition is enough: it only fills while SQS fails, and the tick empties it.
The TTL (SQS's longest retention) only clears what nobody could send for that
long; code never relies on it (DynamoDB Local does not delete on TTL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from contactsync.adapters.dynamodb_items import batch_write_items, from_item, raise_if_unavailable, to_item
from contactsync.models.queue_messages import HeldMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OUTBOX_PK = "OUTBOX"
KEPT_FOR = timedelta(days=14)


class DynamoOutbox:
    """``Outbox`` on the contacts table (BatchWriteItem to hold and release, one Query to read)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def hold(self, messages: Sequence[HeldMessage]) -> None:
        unique = {message.hold_key: message for message in messages}
        batch_write_items(
            self._client,
            self._table,
            [
                {
                    "PutRequest": {
                        "Item": to_item(
                            {
                                "pk": OUTBOX_PK,
                                "sk": key,
                                "message": message.model_dump_json(),
                                "expires_at": int((message.held_at + KEPT_FOR).timestamp()),
                            }
                        )
                    }
                }
                for key, message in unique.items()
            ],
        )

    def held(self, limit: int = 500) -> list[HeldMessage]:
        messages: list[HeldMessage] = []
        start: dict[str, object] | None = None
        while len(messages) < limit:
            request: dict[str, object] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :outbox",
                "ExpressionAttributeValues": to_item({":outbox": OUTBOX_PK}),
                "ConsistentRead": True,
                "Limit": limit - len(messages),
            }
            if start:
                request["ExclusiveStartKey"] = start
            try:
                page = self._client.query(**request)  # type: ignore[arg-type]
            except ClientError as error:
                raise_if_unavailable(error)
                raise
            messages.extend(
                HeldMessage.model_validate_json(str(from_item(raw)["message"])) for raw in page["Items"]
            )
            start = page.get("LastEvaluatedKey")  # type: ignore[assignment]
            if not start:
                break
        return sorted(messages, key=lambda message: message.held_at)

    def release(self, messages: Sequence[HeldMessage]) -> None:
        keys = dict.fromkeys(message.hold_key for message in messages)
        batch_write_items(
            self._client,
            self._table,
            [{"DeleteRequest": {"Key": to_item({"pk": OUTBOX_PK, "sk": key})}} for key in keys],
        )
