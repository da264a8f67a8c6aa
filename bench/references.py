"""References measured in the same run: the bare storage floor, and the tutorial way. Bench only.

The floor is the minimum set of calls the design allows for the same work (BatchGetItem 100 keys,
TransactWriteItems 100 items, SendMessageBatch 10 messages) with items built before the clock
starts, so it carries no product logic. The common way is one PutItem and one SendMessage per
contact, as most tutorials do it. Neither is ever used by the product.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from bench.calls import BATCH_GET_KEYS, SEND_BATCH_MESSAGES, TRANSACTION_ITEMS

_serializer = TypeSerializer()


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


@dataclass(frozen=True)
class PreparedContact:
    """One contact as plain DynamoDB items and a queue body, built outside any timing."""

    guard_key: dict[str, Any]
    suppression_key: dict[str, Any]
    contact_key: dict[str, Any]
    guard_item: dict[str, Any]
    contact_item: dict[str, Any]
    message_body: str


def prepare_contacts(emails: list[str], source_id: str) -> list[PreparedContact]:
    now = datetime.now(UTC).isoformat()
    prepared: list[PreparedContact] = []
    for email in emails:
        contact_id = uuid.uuid4().hex
        identity = f"EMAIL#{email}"
        contact = {
            "pk": f"CONTACT#{contact_id}",
            "sk": "PROFILE",
            "contact_id": contact_id,
            "identity_key": identity,
            "status": "not_subscribed",
            "profile": {"email": email, "first_name": "Ada", "language": "en"},
            "source_id": source_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        change = {"contact_id": contact_id, "version": 1, "kind": "created", "occurred_at": now}
        prepared.append(
            PreparedContact(
                guard_key=_item({"pk": identity, "sk": "GUARD"}),
                suppression_key=_item({"pk": f"SUPPRESSED#{uuid.uuid4().hex}", "sk": "SUPPRESSED"}),
                contact_key=_item({"pk": contact["pk"], "sk": "PROFILE"}),
                guard_item=_item({"pk": identity, "sk": "GUARD", "contact_id": contact_id}),
                contact_item=_item(contact),
                message_body=json.dumps({"change": change}),
            )
        )
    return prepared


def _chunks[T](values: list[T], size: int) -> list[list[T]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _batch_get(dynamodb: Any, table: str, keys: list[dict[str, Any]], *, consistent: bool) -> None:
    for chunk in _chunks(keys, BATCH_GET_KEYS):
        request: dict[str, Any] = {table: {"Keys": chunk, "ConsistentRead": consistent}}
        while request:
            request = dynamodb.batch_get_item(RequestItems=request).get("UnprocessedKeys", {})


def storage_floor_new(
    dynamodb: Any, sqs: Any, table: str, queue_url: str, contacts: list[PreparedContact]
) -> float:
    """Seconds for the bare minimum calls that store these new contacts and queue their changes."""
    started = time.perf_counter()
    _batch_get(dynamodb, table, [c.guard_key for c in contacts], consistent=True)
    _batch_get(dynamodb, table, [c.suppression_key for c in contacts], consistent=False)
    for chunk in _chunks(contacts, TRANSACTION_ITEMS // 2):
        actions = []
        for contact in chunk:
            for item in (contact.guard_item, contact.contact_item):
                actions.append(
                    {
                        "Put": {
                            "TableName": table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
        dynamodb.transact_write_items(TransactItems=actions)
    for chunk in _chunks(contacts, SEND_BATCH_MESSAGES):
        entries = [{"Id": str(index), "MessageBody": c.message_body} for index, c in enumerate(chunk)]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return time.perf_counter() - started


def storage_floor_unchanged(dynamodb: Any, table: str, contacts: list[PreparedContact]) -> float:
    """Seconds for the bare minimum reads that find these stored contacts: guards, then contacts."""
    return storage_floor_reads(
        dynamodb, table, [c.guard_key for c in contacts], [c.contact_key for c in contacts]
    )


def storage_floor_reads(
    dynamodb: Any, table: str, guard_keys: list[dict[str, Any]], contact_keys: list[dict[str, Any]]
) -> float:
    """Seconds for BatchGetItem (100 keys, consistent) over these guard keys, then these contact keys."""
    started = time.perf_counter()
    _batch_get(dynamodb, table, guard_keys, consistent=True)
    _batch_get(dynamodb, table, contact_keys, consistent=True)
    return time.perf_counter() - started


def common_way(dynamodb: Any, sqs: Any, table: str, queue_url: str, contacts: list[PreparedContact]) -> float:
    """Seconds for the tutorial way: one PutItem and one SendMessage per contact."""
    started = time.perf_counter()
    for contact in contacts:
        dynamodb.put_item(TableName=table, Item=contact.contact_item)
        sqs.send_message(QueueUrl=queue_url, MessageBody=contact.message_body)
    return time.perf_counter() - started
