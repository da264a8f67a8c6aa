"""Count AWS calls with a botocore event hook, and the minimum the design's batch limits allow."""

from __future__ import annotations

import threading
from collections import Counter
from math import ceil
from typing import Any

BATCH_GET_KEYS = 100
TRANSACTION_ITEMS = 100
SEND_BATCH_MESSAGES = 10
ITEMS_PER_NEW_CONTACT = 2  # the identity guard and the contact, in the same transaction

WRITE_OPERATIONS = frozenset(
    {"dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem", "dynamodb.BatchWriteItem"}
    | {"dynamodb.TransactWriteItems"}
)
MESSAGE_OPERATIONS = frozenset({"sqs.SendMessage", "sqs.SendMessageBatch"})


class CallCounter:
    """Counts API calls (not HTTP retries) per ``service.Operation`` on the clients it is attached to.

    ``before-call.<service>.<Operation>`` fires once per API call, before botocore's own retries.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self._counts[f"{service}.{operation}"] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


def minimum_for_new(contacts: int, *, opt_in_mails: bool) -> dict[str, int]:
    """Fewest calls to store ``contacts`` new contacts and queue their changes (and mails)."""
    minimum = {
        "dynamodb.BatchGetItem": ceil(contacts / BATCH_GET_KEYS) * 2,  # guards, then suppression list
        "dynamodb.TransactWriteItems": ceil(ITEMS_PER_NEW_CONTACT * contacts / TRANSACTION_ITEMS),
        "sqs.SendMessageBatch": ceil(contacts / SEND_BATCH_MESSAGES),
    }
    if opt_in_mails:
        minimum["sqs.SendMessageBatch"] += ceil(contacts / SEND_BATCH_MESSAGES)  # the mail queue too
    return minimum


def minimum_for_unchanged(contacts: int) -> dict[str, int]:
    """Fewest calls to find ``contacts`` known contacts unchanged: read guards and contacts, write nothing."""
    return {"dynamodb.BatchGetItem": ceil(contacts / BATCH_GET_KEYS) * 2}


def compare(actual: dict[str, int], minimum: dict[str, int], contacts: int) -> dict[str, Any]:
    """Calls per contact by operation next to the minimum, the totals and their ratio."""
    operations = sorted(set(actual) | set(minimum))
    total = sum(actual.values())
    floor = sum(minimum.values())
    return {
        "contacts": contacts,
        "by_operation": {
            name: {
                "calls": actual.get(name, 0),
                "minimum": minimum.get(name, 0),
                "calls_per_contact": round(actual.get(name, 0) / contacts, 4),
                "minimum_per_contact": round(minimum.get(name, 0) / contacts, 4),
            }
            for name in operations
        },
        "total_calls": total,
        "minimum_calls": floor,
        "calls_per_contact": round(total / contacts, 4),
        "minimum_per_contact": round(floor / contacts, 4),
        "ratio_to_minimum": round(total / floor, 3) if floor else None,
        "writes": sum(count for name, count in actual.items() if name in WRITE_OPERATIONS),
        "messages_calls": sum(count for name, count in actual.items() if name in MESSAGE_OPERATIONS),
    }
