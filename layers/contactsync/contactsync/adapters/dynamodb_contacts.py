"""Contacts in DynamoDB, with identity guard items written in the same transaction.

Layout (single table):
- ``pk=CONTACT#<id>, sk=PROFILE``: the contact (``ContactItem``)
- ``pk=EMAIL#<key>`` or ``PHONE#<e164>``, ``sk=GUARD``: claims the identity for one contact id
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from contactsync.adapters.dynamodb_items import (
    batch_get_items,
    from_item,
    raise_if_unavailable,
    to_item,
    transact_write,
)
from contactsync.domain.contact import (
    ConsentEvidence,
    Contact,
    ContactProfile,
    PendingChange,
    SubscriptionStatus,
)
from contactsync.errors import ServiceUnavailable, WritesInterrupted

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PROFILE_SK = "PROFILE"
GUARD_SK = "GUARD"
TRANSACTION_LIMIT = 100


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
    # Indexed only while implied consent can lapse: the daily sweep finds them without a scan.
    gsi1pk: str | None = None
    gsi1sk: str | None = None

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
            **_expiry_index(contact),
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


CONSENT_EXPIRY_INDEX_KEY = "CONSENT_EXPIRY"


def _expiry_index(contact: Contact) -> dict[str, str]:
    consent = contact.consent
    if contact.status is not SubscriptionStatus.SUBSCRIBED or consent is None or consent.expires_at is None:
        return {}
    return {
        "gsi1pk": CONSENT_EXPIRY_INDEX_KEY,
        "gsi1sk": f"{consent.expires_at.isoformat()}#{contact.contact_id}",
    }


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

    def find_many_by_identity(self, identity_keys: Sequence[str]) -> dict[str, Contact]:
        guards = self._batch_get([{"pk": key, "sk": GUARD_SK} for key in dict.fromkeys(identity_keys)])
        ids_by_identity = {str(guard["pk"]): str(guard["contact_id"]) for guard in guards}
        contacts = self.get_many(list(ids_by_identity.values()))
        return {key: contacts[cid] for key, cid in ids_by_identity.items() if cid in contacts}

    def create_many(self, contacts: Sequence[Contact]) -> list[Contact]:
        """Raises ``WritesInterrupted`` (with the contacts already stored) when a transaction fails."""
        not_created: list[Contact] = []
        written: list[Contact] = []
        per_transaction = TRANSACTION_LIMIT // 2  # a guard and a contact each
        for start in range(0, len(contacts), per_transaction):
            chunk = list(contacts[start : start + per_transaction])
            actions: list[TransactWriteItemTypeDef] = []
            for contact in chunk:
                actions.extend(self._create_actions(contact))
            try:
                stored = self._transact(actions)
            except ServiceUnavailable as error:
                raise WritesInterrupted(written, error) from error
            (written if stored else not_created).extend(chunk)
        return not_created

    def update_many(self, updates: Sequence[tuple[Contact, int]]) -> list[Contact]:
        """Raises ``WritesInterrupted`` (with the contacts already stored) when a transaction fails."""
        not_updated: list[Contact] = []
        written: list[Contact] = []
        for start in range(0, len(updates), TRANSACTION_LIMIT):
            chunk = list(updates[start : start + TRANSACTION_LIMIT])
            actions = [self._update_action(contact, version) for contact, version in chunk]
            try:
                stored = self._transact(actions)
            except ServiceUnavailable as error:
                raise WritesInterrupted(written, error) from error
            (written if stored else not_updated).extend(contact for contact, _ in chunk)
        return not_updated

    def _claim_identity(self, contact: Contact) -> TransactWriteItemTypeDef:
        """The guard item that makes an identity belong to one contact only."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(
                    {"pk": contact.identity_key, "sk": GUARD_SK, "contact_id": contact.contact_id}
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _create_actions(self, contact: Contact) -> list[TransactWriteItemTypeDef]:
        return [
            self._claim_identity(contact),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(ContactItem.from_contact(contact).attributes()),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]

    def _update_action(self, contact: Contact, expected_version: int) -> TransactWriteItemTypeDef:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(ContactItem.from_contact(contact).attributes()),
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": to_item({":expected": expected_version}),
            }
        }

    def _transact(self, actions: list[TransactWriteItemTypeDef]) -> bool:
        """Write all or nothing; False when a condition failed (someone else wrote first)."""
        return transact_write(self._client, actions)

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return batch_get_items(self._client, self._table, keys, consistent=True)

    def create(self, contact: Contact) -> bool:
        return self._transact(self._create_actions(contact))

    def update(self, contact: Contact, expected_version: int) -> bool:
        return self._transact([self._update_action(contact, expected_version)])

    def move_identity(self, contact: Contact, previous_identity_key: str, expected_version: int) -> bool:
        release_previous: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self._table,
                "Key": to_item({"pk": previous_identity_key, "sk": GUARD_SK}),
                "ConditionExpression": "contact_id = :id",
                "ExpressionAttributeValues": to_item({":id": contact.contact_id}),
            }
        }
        return transact_write(
            self._client,
            [release_previous, self._claim_identity(contact), self._update_action(contact, expected_version)],
        )

    def consent_expiring_before(self, moment: datetime, limit: int = 500) -> list[Contact]:
        """Subscribed contacts whose implied consent expires before ``moment`` (the gsi1 index)."""
        try:
            page = self._client.query(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :key AND gsi1sk < :moment",
                ExpressionAttributeValues=to_item(
                    {":key": CONSENT_EXPIRY_INDEX_KEY, ":moment": moment.isoformat()}
                ),
                Limit=limit,
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        ids = [str(from_item(raw)["contact_id"]) for raw in page["Items"]]
        return list(self.get_many(ids).values())

    def scan_page(self, start_after: str | None, limit: int = 500) -> tuple[list[Contact], str | None]:
        """A Scan is right here: a backfill reads every contact once, on an operator's request."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :profile",
            "ExpressionAttributeValues": to_item({":profile": PROFILE_SK}),
            "Limit": limit,
        }
        if start_after:
            request["ExclusiveStartKey"] = to_item(json.loads(start_after))
        try:
            page = self._client.scan(**request)
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        contacts = [ContactItem.model_validate(from_item(raw)).to_contact() for raw in page["Items"]]
        last = page.get("LastEvaluatedKey")
        return contacts, json.dumps(from_item(last)) if last else None

    def erase(self, contact: Contact) -> None:
        self._transact(
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": to_item({"pk": contact_pk(contact.contact_id), "sk": PROFILE_SK}),
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": to_item({"pk": contact.identity_key, "sk": GUARD_SK}),
                    }
                },
            ]
        )

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        items = self._batch_get(
            [{"pk": contact_pk(cid), "sk": PROFILE_SK} for cid in dict.fromkeys(contact_ids)]
        )
        contacts = (ContactItem.model_validate(item).to_contact() for item in items)
        return {contact.contact_id: contact for contact in contacts}
