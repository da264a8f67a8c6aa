"""The consent ledger, link tokens and the transaction that ties a confirmation together.

- ``pk=CONTACT#<id>, sk=CONSENT#<000001>``: one ledger event (append-only, conditional put)
- ``pk=TOKEN#<sha256>, sk=TOKEN``: a link token, cleaned by TTL (``expires_at``) but checked by code
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from contactsync.adapters.dynamodb_contacts import ContactItem, contact_pk
from contactsync.adapters.dynamodb_items import (
    batch_write_items,
    error_code,
    from_item,
    raise_if_unavailable,
    to_item,
    transact_write,
)
from contactsync.domain.consent_ledger import ConsentEvent, ConsentEventDraft, chain_event
from contactsync.domain.contact import Contact
from contactsync.domain.opt_in_tokens import LinkToken
from contactsync.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef, TransactWriteItemTypeDef

TOKEN_SK = "TOKEN"  # noqa: S105 - a sort key, not a secret
LEDGER_PREFIX = "CONSENT#"
APPEND_ATTEMPTS = 5
# Tokens that never expire by themselves (unsubscribe links) are still cleaned after this long.
TOKEN_RETENTION = timedelta(days=400)


def ledger_sk(sequence: int) -> str:
    return f"{LEDGER_PREFIX}{sequence:08d}"


def _event_item(contact_id: str, event: ConsentEvent) -> dict[str, Any]:
    return {"pk": contact_pk(contact_id), "sk": ledger_sk(event.sequence), "event": event.model_dump_json()}


def _token_item(token: LinkToken) -> dict[str, Any]:
    cleanup_at = token.expires_at or (token.created_at + TOKEN_RETENTION)
    return {
        "pk": f"TOKEN#{token.digest}",
        "sk": TOKEN_SK,
        "token": token.model_dump_json(),
        "expires_at": int(cleanup_at.timestamp()) + 86_400,
        "used_at": token.used_at.isoformat() if token.used_at else None,
    }


class DynamoConsentLedger:
    """``ConsentLedger`` on the contacts table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def events(self, contact_id: str) -> list[ConsentEvent]:
        query: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": contact_pk(contact_id), ":prefix": LEDGER_PREFIX}),
            "ConsistentRead": True,
        }
        events: list[ConsentEvent] = []
        while True:
            try:
                page = self._client.query(**query)
            except ClientError as error:
                raise_if_unavailable(error)
                raise
            events.extend(
                ConsentEvent.model_validate_json(str(from_item(raw)["event"])) for raw in page["Items"]
            )
            if "LastEvaluatedKey" not in page:
                return events
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def last_event(self, contact_id: str) -> ConsentEvent | None:
        try:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=to_item({":pk": contact_pk(contact_id), ":prefix": LEDGER_PREFIX}),
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        items = page["Items"]
        return ConsentEvent.model_validate_json(str(from_item(items[0])["event"])) if items else None

    def append(self, contact_id: str, draft: ConsentEventDraft) -> ConsentEvent:
        for _ in range(APPEND_ATTEMPTS):
            event = chain_event(self.last_event(contact_id), draft)
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(_event_item(contact_id, event)),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    continue  # another event took this sequence number: chain after it
                raise_if_unavailable(error)
                raise
            return event
        raise ServiceUnavailable("the consent ledger is busy")

    def erase(self, contact_id: str) -> int:
        """Delete every event of an erased contact (their personal data goes with them)."""
        keys = [
            {"pk": contact_pk(contact_id), "sk": ledger_sk(event.sequence)}
            for event in self.events(contact_id)
        ]
        batch_write_items(
            self._client, self._table, [{"DeleteRequest": {"Key": to_item(key)}} for key in keys]
        )
        return len(keys)


class DynamoLinkTokens:
    """``LinkTokens``: only digests are keys; the token itself never reaches the table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def issue(self, token: LinkToken) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(_token_item(token)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise

    def find(self, digest: str) -> LinkToken | None:
        try:
            found = self._client.get_item(
                TableName=self._table,
                Key=to_item({"pk": f"TOKEN#{digest}", "sk": TOKEN_SK}),
                ConsistentRead=True,
            ).get("Item")
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return LinkToken.model_validate_json(str(from_item(found)["token"])) if found else None


class DynamoConsentTransactions:
    """``ConsentTransactions``: contact, ledger event and spent token in one TransactWriteItems."""

    def __init__(self, client: DynamoDBClient, table_name: str, ledger: DynamoConsentLedger) -> None:
        self._client = client
        self._table = table_name
        self._ledger = ledger

    def commit(
        self,
        contact: Contact,
        expected_version: int,
        event: ConsentEventDraft,
        use_token: LinkToken | None,
        now: datetime,
    ) -> bool:
        chained = chain_event(self._ledger.last_event(contact.contact_id), event)
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(ContactItem.from_contact(contact).attributes()),
                    "ConditionExpression": "#version = :expected",
                    "ExpressionAttributeNames": {"#version": "version"},
                    "ExpressionAttributeValues": to_item({":expected": expected_version}),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(_event_item(contact.contact_id, chained)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if use_token is not None:
            spent = use_token.model_copy(update={"used_at": now})
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(_token_item(spent)),
                        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(used_at)",
                    }
                }
            )
        return transact_write(self._client, actions)
