"""The single-webhook storage floor: the bare calls that store one new contact, behind the same gateway.

No authentication, mapping, validation, consent rules or rate limit: one BatchGetItem for the
address's guard (consistent), one for its suppression entry, one TransactWriteItems putting the
guard and the contact, one SendMessageBatch for the change: the minimum the design allows for
one new contact (``bench.calls.minimum_for_new(1)``). Clients are built once per container, as
the product's are. Bench only.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3

BODY = '{"accepted": 1, "rejected": 0, "results": []}'


@cache
def _clients() -> tuple[Any, Any]:
    return boto3.client("dynamodb"), boto3.client("sqs")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    dynamodb, sqs = _clients()
    table = os.environ["CONTACTSYNC_CONTACTS_TABLE"]
    email = str(json.loads(event["body"])["email"]).lower()
    contact_id, now = uuid.uuid4().hex, datetime.now(UTC).isoformat()
    guard = {"pk": {"S": f"EMAIL#{email}"}, "sk": {"S": "GUARD"}}
    dynamodb.batch_get_item(RequestItems={table: {"Keys": [guard], "ConsistentRead": True}})
    suppressed = {"pk": {"S": f"SUPPRESSED#{uuid.uuid4().hex}"}, "sk": {"S": "SUPPRESSED"}}
    dynamodb.batch_get_item(RequestItems={table: {"Keys": [suppressed]}})
    contact = {
        "pk": {"S": f"CONTACT#{contact_id}"},
        "sk": {"S": "PROFILE"},
        "contact_id": {"S": contact_id},
        "identity_key": guard["pk"],
        "status": {"S": "not_subscribed"},
        "profile": {"M": {"email": {"S": email}, "first_name": {"S": "Ada"}, "language": {"S": "en"}}},
        "version": {"N": "1"},
        "created_at": {"S": now},
        "updated_at": {"S": now},
    }
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {**guard, "contact_id": {"S": contact_id}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": table, "Item": contact, "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
    )
    change = {"contact_id": contact_id, "version": 1, "kind": "created", "occurred_at": now}
    sqs.send_message_batch(
        QueueUrl=os.environ["CONTACTSYNC_PUSH_QUEUE_URL"],
        Entries=[{"Id": "0", "MessageBody": json.dumps({"change": change})}],
    )
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": BODY}
