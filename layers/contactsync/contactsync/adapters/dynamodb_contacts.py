"""Contacts in DynamoDB, with identity guard items written in the same transaction.

Layout (single table):
- ``pk=CONTACT#<id>, sk=PROFILE``: the contact (``ContactItem``)
- ``pk=EMAIL#<key>`` or ``PHONE#<e164>``, ``sk=GUARD``: claims the identity for one contact id
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from contactsync.adapters.dynamodb_items import error_code, from_item, raise_if_unavailable, to_item
from contactsync.domain.contact import (
    ConsentEvidence,
    Contact,
    ContactProfile,
    PendingChange,
    SubscriptionStatus,
)
from contactsync.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

PROFILE_SK = "PROFILE"
GUARD_SK = "GUARD"
BATCH_GET_LIMIT = 100


class ContactItem(BaseModel):
    """The stored shape of a contact: keys and status at the top, the profile as a map."""

    model_config = ConfigDict(extra="ignore")

    pk: str
    sk: str = PROFILE_SK
    contact_id: str
    identity_key: str
    status: str
    profile: dict[str, Any]
    lists: dict[str, str] = {}
    consent: dict[str, Any] | None = None
    pending_change: str | None = None  # JSON: opaque until confirmed
    opt_in_requested_at: str | None = None
    source_id: str
    version: int
    created_at: str
    updated_at: str

    @classmethod
    def from_contact(cls, contact: Contact) -> ContactItem:
        return cls(
            pk=contact_pk(contact.contact_id),
            contact_id=contact.contact_id,
            identity_key=contact.identity_key,
            status=contact.status.value,
            profile=contact.profile.model_dump(mode="json", exclude_none=True),
            lists={name: status.value for name, status in contact.lists.items()},
            consent=contact.consent.model_dump(mode="json", exclude_none=True) if contact.consent else None,
            pending_change=contact.pending_change.model_dump_json() if contact.pending_change else None,
            opt_in_requested_at=contact.opt_in_requested_at.isoformat()
            if contact.opt_in_requested_at
            else None,
            source_id=contact.source_id,
            version=contact.version,
            created_at=contact.created_at.isoformat(),
            updated_at=contact.updated_at.isoformat(),
        )

    def to_contact(self) -> Contact:
        return Contact(
            contact_id=self.contact_id,
            identity_key=self.identity_key,
            profile=ContactProfile.model_validate(self.profile),
            status=SubscriptionStatus(self.status),
            lists={name: SubscriptionStatus(status) for name, status in self.lists.items()},
            consent=ConsentEvidence.model_validate(self.consent) if self.consent else None,
            pending_change=PendingChange.model_validate_json(self.pending_change)
            if self.pending_change
            else None,
            opt_in_requested_at=datetime.fromisoformat(self.opt_in_requested_at)
            if self.opt_in_requested_at
            else None,
            source_id=self.source_id,
            version=self.version,
            created_at=datetime.fromisoformat(self.created_at),
            updated_at=datetime.fromisoformat(self.updated_at),
        )

    def attributes(self) -> dict[str, Any]:
        values = self.model_dump(exclude_none=True)
        if not values["lists"]:
            values.pop("lists")
        return values


def contact_pk(contact_id: str) -> str:
    return f"CONTACT#{contact_id}"


class DynamoContactRepository:
    """``ContactRepository`` on one DynamoDB table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def find_by_identity(self, identity_key: str) -> Contact | None:
        try:
            guard = self._client.get_item(
                TableName=self._table,
                Key=to_item({"pk": identity_key, "sk": GUARD_SK}),
                ConsistentRead=True,
            ).get("Item")
            if guard is None:
                return None
            contact_id = str(from_item(guard)["contact_id"])
            found = self._client.get_item(
                TableName=self._table,
                Key=to_item({"pk": contact_pk(contact_id), "sk": PROFILE_SK}),
                ConsistentRead=True,
            ).get("Item")
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return ContactItem.model_validate(from_item(found)).to_contact() if found else None

    def create(self, contact: Contact) -> bool:
        item = ContactItem.from_contact(contact)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(
                                {"pk": contact.identity_key, "sk": GUARD_SK, "contact_id": contact.contact_id}
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(item.attributes()),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException" and _condition_failed(error):
                return False
            raise_if_unavailable(error)
            if error_code(error) == "TransactionCanceledException":
                # Cancelled by a conflicting transaction on the same items: also retryable.
                raise ServiceUnavailable("the contact store is busy") from error
            raise
        return True

    def update(self, contact: Contact, expected_version: int) -> bool:
        item = ContactItem.from_contact(contact)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(item.attributes()),
                ConditionExpression="#version = :expected",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues=to_item({":expected": expected_version}),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise_if_unavailable(error)
            raise
        return True

    def move_identity(self, contact: Contact, previous_identity_key: str, expected_version: int) -> bool:
        item = ContactItem.from_contact(contact)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item({"pk": previous_identity_key, "sk": GUARD_SK}),
                            "ConditionExpression": "contact_id = :id",
                            "ExpressionAttributeValues": to_item({":id": contact.contact_id}),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(
                                {"pk": contact.identity_key, "sk": GUARD_SK, "contact_id": contact.contact_id}
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(item.attributes()),
                            "ConditionExpression": "#version = :expected",
                            "ExpressionAttributeNames": {"#version": "version"},
                            "ExpressionAttributeValues": to_item({":expected": expected_version}),
                        }
                    },
                ]
            )
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException" and _condition_failed(error):
                return False
            raise_if_unavailable(error)
            if error_code(error) == "TransactionCanceledException":
                raise ServiceUnavailable("the contact store is busy") from error
            raise
        return True

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        unique_ids = list(dict.fromkeys(contact_ids))
        found: dict[str, Contact] = {}
        for start in range(0, len(unique_ids), BATCH_GET_LIMIT):
            chunk = unique_ids[start : start + BATCH_GET_LIMIT]
            request: dict[str, KeysAndAttributesTypeDef] = {
                self._table: {
                    "Keys": [to_item({"pk": contact_pk(cid), "sk": PROFILE_SK}) for cid in chunk],
                    "ConsistentRead": True,
                }
            }
            while request:
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except ClientError as error:
                    raise_if_unavailable(error)
                    raise
                for raw in response.get("Responses", {}).get(self._table, []):
                    contact = ContactItem.model_validate(from_item(raw)).to_contact()
                    found[contact.contact_id] = contact
                request = cast("dict[str, KeysAndAttributesTypeDef]", response.get("UnprocessedKeys", {}))
        return found


def _condition_failed(error: ClientError) -> bool:
    reasons = error.response.get("CancellationReasons", [])
    return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)
