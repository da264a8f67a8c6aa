"""Recurring imports: a job says where to read, how often, what to do with each record, and on what consent.

A connector reads a source a page at a time from a checkpoint; a run applies each
page and saves the next checkpoint, so it can stop (Lambda timeout, crash) and
resume without losing or double-counting a contact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from contactsync.domain.contact import ConsentBasis
from contactsync.domain.field_mapping import FieldMapping

JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class ImportMode(StrEnum):
    ADD_AND_UPDATE = "add_and_update"
    ADD_ONLY = "add_only"
    UPDATE_ONLY = "update_only"


class Pagination(StrEnum):
    PAGE_NUMBER = "page_number"  # ?page=1,2,3... until an empty page
    CURSOR = "cursor"  # the response names the next cursor
    NEXT_LINK = "next_link"  # the response (body or Link header) gives the next URL


class HttpJsonSourceSettings(BaseModel):
    """An HTTP JSON API that lists contacts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["http_json"] = "http_json"
    url: str = Field(pattern=r"^https?://", max_length=1000)
    pagination: Pagination = Pagination.PAGE_NUMBER
    records_path: str = Field(default="data", description="dotted path of the list of records in a response")
    page_param: str = "page"
    page_size_param: str | None = "per_page"
    page_size: int = Field(default=100, ge=1, le=1000)
    cursor_param: str = "cursor"
    next_cursor_path: str = Field(default="next_cursor", description="dotted path of the next cursor")
    next_link_path: str | None = Field(
        default="links.next", description="dotted path of the next URL; else Link header"
    )
    updated_since_param: str | None = Field(
        default=None, description="incremental: send the last cursor as this"
    )
    updated_at_field: str = Field(
        default="updated_at", description="record field that moves the incremental cursor"
    )
    credentials_secret_key: str | None = Field(
        default=None, description="key in the job credentials secret holding a bearer token"
    )


class S3CsvSourceSettings(BaseModel):
    """CSV files dropped in an S3 bucket under a prefix; each file is imported once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["s3_csv"] = "s3_csv"
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="", max_length=500)


ConnectorSettings = Annotated[HttpJsonSourceSettings | S3CsvSourceSettings, Field(discriminator="kind")]


class ConsentOnImport(BaseModel):
    """The legal basis the operator records for a job; without it imported contacts are never mailed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: ConsentBasis
    method: str = Field(
        min_length=1, max_length=200, description="how consent was obtained, e.g. membership form"
    )
    obtained_at: datetime | None = Field(
        default=None, description="default: each record's own date, else now"
    )


class ImportJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    connector: ConnectorSettings
    mode: ImportMode = ImportMode.ADD_AND_UPDATE
    target_lists: tuple[str, ...] = ()
    field_mapping: FieldMapping = FieldMapping()
    selection: dict[str, str] = Field(
        default_factory=dict, description="only records whose fields equal these"
    )
    every_hours: int = Field(default=24, description="1, 2, 3, 4, 6, 8, 12 or 24")
    at_hour: int | None = Field(default=None, ge=0, le=23, description="daily jobs: the local hour to run at")
    time_zone: str = "America/Toronto"
    consent: ConsentOnImport | None = None
    permission_confirmed: bool = Field(description="the operator confirms they may add these contacts")
    paused: bool = False
    next_run_at: datetime | None = None
    incremental_cursor: str | None = Field(default=None, description="where the last successful run stopped")
    created_at: datetime


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Rejection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    where: str = Field(description="line 12 of file x.csv, or record 340")
    reason: str


class RunCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    pages: int = 0


class JobRun(BaseModel):
    """One run of a job: its checkpoint and counters are saved together after every page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    job_id: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    checkpoint: str | None = Field(
        default=None, description="where the next page starts (connector-specific)"
    )
    incremental_cursor: str | None = Field(default=None, description="highest updated_at seen (HTTP sources)")
    counters: RunCounters = RunCounters()
    rejections: tuple[Rejection, ...] = Field(default=(), description="the first 1,000 rejected records")
    error: str | None = None

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


class SourceRecord(BaseModel):
    """One record as read, with where it came from (for the report)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    where: str
    fields: dict[str, Any] = Field(default_factory=dict)
    problem: str | None = Field(default=None, description="a record the connector could not read at all")


class SourcePage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    records: list[SourceRecord]
    next_checkpoint: str | None = Field(description="None: this was the last page")
    incremental_cursor: str | None = None
    on_applied: Callable[[], None] | None = Field(
        default=None,
        exclude=True,
        description="what the connector does once the run has stored this page (e.g. mark a file imported): "
        "pages are read ahead, so the connector cannot tell when that is",
    )


class SourceConnector(Protocol):
    def pages(
        self, job: ImportJob, checkpoint: str | None, incremental_cursor: str | None
    ) -> Iterator[SourcePage]:
        """Pages from ``checkpoint`` on (None: the start), each small enough to apply in one go."""
        ...
