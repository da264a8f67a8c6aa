"""Batched reads: every key found once, chunks of one read in flight together, faults typed."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from contactsync.adapters.dynamodb_items import batch_get_items
from contactsync.errors import DependencyThrottled

TABLE = "contacts"


class ChunkedStore:
    """A BatchGetItem that answers only after ``together`` calls are in flight at once.

    The first answer for each chunk leaves its last key unprocessed, as DynamoDB does
    when a response would be too large.
    """

    def __init__(self, together: int, fail_with: str | None = None) -> None:
        self._barrier = threading.Barrier(together, timeout=5)
        self._lock = threading.Lock()
        self._fail_with = fail_with
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        keys = RequestItems[TABLE]["Keys"]
        with self._lock:
            self.calls += 1
            first_attempt = len(keys) > 1
        if first_attempt:
            self._barrier.wait()  # raises BrokenBarrierError if the chunks come one after another
        if self._fail_with:
            raise ClientError({"Error": {"Code": self._fail_with, "Message": "slow down"}}, "BatchGetItem")
        answered, unprocessed = (keys[:-1], keys[-1:]) if first_attempt else (keys, [])
        items = [{**key, "found": {"BOOL": True}} for key in answered]
        response: dict[str, Any] = {"Responses": {TABLE: items}}
        if unprocessed:
            response["UnprocessedKeys"] = {TABLE: {"Keys": unprocessed, "ConsistentRead": True}}
        return response


def test_a_read_of_250_keys_sends_its_three_chunks_together_and_finds_every_key() -> None:
    # Given a store that answers only when three calls are in flight, leaving one key a chunk unprocessed
    store = ChunkedStore(together=3)
    keys = [{"pk": f"CONTACT#{number}", "sk": "PROFILE"} for number in range(250)]

    # When 250 keys are read
    found = batch_get_items(store, TABLE, keys, consistent=True)  # type: ignore[arg-type]

    # Then every key comes back once, after three chunk calls and three retries of unprocessed keys
    assert sorted(item["pk"] for item in found) == sorted(key["pk"] for key in keys)
    assert all(item["found"] is True for item in found)
    assert store.calls == 6


def test_throttling_in_one_chunk_is_a_typed_error_for_the_caller() -> None:
    # Given a store that throttles every chunk past botocore's retries
    store = ChunkedStore(together=2, fail_with="ProvisionedThroughputExceededException")
    keys = [{"pk": f"EMAIL#{number}@example.com", "sk": "GUARD"} for number in range(150)]

    # When the keys are read, then the caller gets the typed error that answers 429
    with pytest.raises(DependencyThrottled):
        batch_get_items(store, TABLE, keys, consistent=True)  # type: ignore[arg-type]
