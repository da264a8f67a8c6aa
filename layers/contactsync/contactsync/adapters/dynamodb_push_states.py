"""What each destination last received of a contact: ``pk=CONTACT#<id>, sk=PUSH#<destination>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from contactsync.adapters.dynamodb_contacts import contact_pk
from contactsync.adapters.dynamodb_items import (
    batch_get_items,
    batch_write_items,
    from_item,
    raise_if_unavailable,
    to_item,
)
from contactsync.domain.push_state import PushState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PUSH_PREFIX = "PUSH#"


class DynamoPushStates:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], PushState]:
        wanted = [{"pk": contact_pk(cid), "sk": f"{PUSH_PREFIX}{did}"} for cid, did in dict.fromkeys(keys)]
        states = (
            PushState.model_validate_json(str(item["state"]))
            for item in batch_get_items(self._client, self._table, wanted, consistent=True)
        )
        return {(state.contact_id, state.destination_id): state for state in states}

    def for_contact(self, contact_id: str) -> list[PushState]:
        try:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=to_item({":pk": contact_pk(contact_id), ":prefix": PUSH_PREFIX}),
                ConsistentRead=True,
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return [PushState.model_validate_json(str(from_item(raw)["state"])) for raw in page["Items"]]

    def save_many(self, states: Sequence[PushState]) -> None:
        requests: list[Any] = [
            {
                "PutRequest": {
                    "Item": to_item(
                        {
                            "pk": contact_pk(state.contact_id),
                            "sk": f"{PUSH_PREFIX}{state.destination_id}",
                            "state": state.model_dump_json(),
                        }
                    )
                }
            }
            for state in states
        ]
        batch_write_items(self._client, self._table, requests)

    def delete(self, contact_id: str, destination_id: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=to_item({"pk": contact_pk(contact_id), "sk": f"{PUSH_PREFIX}{destination_id}"}),
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
