"""Configured data (sources, destinations, jobs) as items of the contacts table.

Each kind is listed through the ``gsi1`` index (``gsi1pk=<KIND>``), never by a scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from contactsync.adapters.dynamodb_items import from_item, raise_if_unavailable, to_item
from contactsync.domain.destination import Destination
from contactsync.domain.source import Source

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

CONFIG_SK = "CONFIG"
INDEX_NAME = "gsi1"


class ConfigurationItems[Model: BaseModel]:
    """Store and list one kind of configuration model, keyed by one of its fields."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, kind: str, model: type[Model], id_field: str
    ) -> None:
        self._client = client
        self._table = table_name
        self._kind = kind
        self._model = model
        self._id_field = id_field

    def _pk(self, item_id: str) -> str:
        return f"{self._kind}#{item_id}"

    def get(self, item_id: str) -> Model | None:
        try:
            found = self._client.get_item(
                TableName=self._table,
                Key=to_item({"pk": self._pk(item_id), "sk": CONFIG_SK}),
                ConsistentRead=True,
            ).get("Item")
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return self._model.model_validate_json(str(from_item(found)["document"])) if found else None

    def put(self, value: Model) -> None:
        item_id = str(getattr(value, self._id_field))
        attributes: dict[str, Any] = {
            "pk": self._pk(item_id),
            "sk": CONFIG_SK,
            "gsi1pk": self._kind,
            "gsi1sk": item_id,
            "document": value.model_dump_json(),
        }
        try:
            self._client.put_item(TableName=self._table, Item=to_item(attributes))
        except ClientError as error:
            raise_if_unavailable(error)
            raise

    def list_ids(self) -> list[str]:
        return [str(from_item(raw)["gsi1sk"]) for raw in self._query(projection="gsi1sk")]

    def list_all(self) -> list[Model]:
        return [self._model.model_validate_json(str(from_item(raw)["document"])) for raw in self._query()]

    def _query(self, projection: str | None = None) -> list[dict[str, Any]]:
        query: QueryInputTypeDef = {
            "TableName": self._table,
            "IndexName": INDEX_NAME,
            "KeyConditionExpression": "gsi1pk = :kind",
            "ExpressionAttributeValues": to_item({":kind": self._kind}),
        }
        if projection:
            query["ProjectionExpression"] = projection
        items: list[dict[str, Any]] = []
        while True:
            try:
                page = self._client.query(**query)
            except ClientError as error:
                raise_if_unavailable(error)
                raise
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoSourceRepository:
    """``SourceRepository``: sources as ``SOURCE#<id>`` items."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._items = ConfigurationItems(
            client, table_name, kind="SOURCE", model=Source, id_field="source_id"
        )

    def get(self, source_id: str, *, fresh: bool = False) -> Source | None:
        return self._items.get(source_id)

    def put(self, source: Source) -> None:
        self._items.put(source)

    def list_all(self) -> list[Source]:
        return self._items.list_all()


class DynamoDestinationRepository:
    """``DestinationRepository``: destinations as ``DESTINATION#<id>`` items."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._items = ConfigurationItems(
            client, table_name, kind="DESTINATION", model=Destination, id_field="destination_id"
        )

    def list_enabled(self) -> list[Destination]:
        return [destination for destination in self._items.list_all() if destination.enabled]

    def list_all(self) -> list[Destination]:
        return self._items.list_all()

    def get(self, destination_id: str) -> Destination | None:
        return self._items.get(destination_id)

    def put(self, destination: Destination) -> None:
        self._items.put(destination)
