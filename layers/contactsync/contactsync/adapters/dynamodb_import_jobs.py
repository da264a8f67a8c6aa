"""Import jobs, their runs and the files they have imported, on the contacts table.

- ``JOB#<id> / CONFIG``: the job (listed through gsi1 like every configured item)
- ``RUN#<run id> / RUN``: one run, its checkpoint and counters; gsi1 lists a job's runs by start time
- ``JOB#<id> / FILE#<key>``: a CSV file this job has imported (each file is imported once)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from contactsync.adapters.dynamodb_configuration import ConfigurationItems
from contactsync.adapters.dynamodb_items import error_code, from_item, raise_if_unavailable, to_item
from contactsync.domain.import_jobs import ImportJob, JobRun

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RUN_SK = "RUN"


class DynamoImportJobs:
    """``JobRepository``."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._items = ConfigurationItems(client, table_name, kind="JOB", model=ImportJob, id_field="job_id")

    def get(self, job_id: str) -> ImportJob | None:
        return self._items.get(job_id)

    def put(self, job: ImportJob) -> None:
        self._items.put(job)

    def list_all(self) -> list[ImportJob]:
        return self._items.list_all()


class DynamoJobRuns:
    """``RunRepository``: a run is saved after every page, only if nobody else moved it meanwhile."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, run_id: str) -> JobRun | None:
        try:
            found = self._client.get_item(
                TableName=self._table, Key=to_item({"pk": f"RUN#{run_id}", "sk": RUN_SK}), ConsistentRead=True
            ).get("Item")
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return JobRun.model_validate_json(str(from_item(found)["run"])) if found else None

    def save(self, run: JobRun, expected_pages: int | None) -> bool:
        """Store the run; with ``expected_pages``, only if the stored run is still at that page."""
        item = {
            "pk": f"RUN#{run.run_id}",
            "sk": RUN_SK,
            "gsi1pk": f"RUNS#{run.job_id}",
            "gsi1sk": run.started_at.isoformat(),
            "pages": run.counters.pages,
            "run": run.model_dump_json(),
        }
        condition = {}
        if expected_pages is not None:
            condition = {
                "ConditionExpression": "pages = :expected",
                "ExpressionAttributeValues": to_item({":expected": expected_pages}),
            }
        try:
            self._client.put_item(TableName=self._table, Item=to_item(item), **condition)  # type: ignore[arg-type]
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise_if_unavailable(error)
            raise
        return True

    def for_job(self, job_id: str, limit: int = 20) -> list[JobRun]:
        try:
            page = self._client.query(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :key",
                ExpressionAttributeValues=to_item({":key": f"RUNS#{job_id}"}),
                ScanIndexForward=False,
                Limit=limit,
            )
        except ClientError as error:
            raise_if_unavailable(error)
            raise
        return [JobRun.model_validate_json(str(from_item(raw)["run"])) for raw in page["Items"]]


class DynamoImportedFiles:
    """``ImportedFiles`` of the S3 CSV connector."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def was_imported(self, job_id: str, key: str) -> bool:
        found = self._client.get_item(
            TableName=self._table,
            Key=to_item({"pk": f"JOB#{job_id}", "sk": f"FILE#{key}"}),
            ConsistentRead=True,
        )
        return "Item" in found

    def mark_imported(self, job_id: str, key: str) -> None:
        self._client.put_item(
            TableName=self._table, Item=to_item({"pk": f"JOB#{job_id}", "sk": f"FILE#{key}"})
        )
