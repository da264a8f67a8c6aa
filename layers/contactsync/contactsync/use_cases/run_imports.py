"""Recurring imports: start the jobs that are due, and run them a page at a time with checkpoints.

A run streams its source page by page in constant memory, applies each page with
the same batched path as webhooks (BatchGetItem, transactions, SendMessageBatch),
and saves its checkpoint and counters after every page. The next page is read and
validated in a background thread while the current one is stored (``ReadAhead``). It hands over to a new
invocation before the Lambda timeout, and a run that crashed resumes from its
last checkpoint: a page applied twice finds its contacts unchanged, so nothing is
written, pushed or counted twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contactsync.domain.contact import ConsentBasis, utc_now
from contactsync.domain.field_mapping import value_at
from contactsync.domain.import_jobs import (
    ImportJob,
    JobRun,
    Rejection,
    RunStatus,
    SourceConnector,
    SourcePage,
)
from contactsync.domain.source import ConsentMode, Source
from contactsync.errors import ClientError, ConfigurationError, ServiceUnavailable
from contactsync.ports import JobRepository, RunQueue, RunRepository
from contactsync.use_cases.ingest_contacts import (
    CheckedPayloads,
    Effect,
    InboundRequest,
    IngestContacts,
    check_payloads,
)
from contactsync.use_cases.read_ahead import ReadAhead

ALLOWED_EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
MAX_REJECTIONS_KEPT = 1000
HANDOVER_MARGIN_SECONDS = 60.0
NO_EVENT_PATH = "__contactsync_event__"  # imported records carry no event type


class JobRefused(ClientError):
    code = "job_refused"


class JobNotFound(ClientError):
    code = "job_not_found"
    public_message = "No import job has this id."


def next_run_after(job: ImportJob, moment: datetime) -> datetime:
    """The next time the job is due after ``moment``: every N hours, or daily at a local hour."""
    zone = ZoneInfo(job.time_zone)
    local = moment.astimezone(zone)
    if job.every_hours == 24 and job.at_hour is not None:
        candidate = local.replace(hour=job.at_hour, minute=0, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate.astimezone(moment.tzinfo)
    start = local.replace(minute=0, second=0, microsecond=0)
    step = timedelta(hours=job.every_hours)
    candidate = start.replace(hour=(start.hour // job.every_hours) * job.every_hours) + step
    while candidate <= local:
        candidate += step
    return candidate.astimezone(moment.tzinfo)


def source_for(job: ImportJob) -> Source:
    """The rules a job's records go through: consent on file when the job records a basis, else data only.

    A request for consent is itself a commercial message under CASL, so an
    import never sends confirmation mails.
    """
    return Source(
        source_id=f"job-{job.job_id}"[:63],
        name=job.name,
        consent_mode=ConsentMode.CONSENT_ON_FILE if job.consent else ConsentMode.DATA_ONLY,
        default_lists=job.target_lists,
        field_mapping=job.field_mapping,
        event_type_path=NO_EVENT_PATH,
        created_at=job.created_at,
    )


class ManageImportJobs:
    def __init__(
        self,
        jobs: JobRepository,
        runs: RunRepository,
        queue: RunQueue,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._jobs = jobs
        self._runs = runs
        self._queue = queue
        self._clock = clock

    def add(self, job: ImportJob) -> ImportJob:
        if not job.permission_confirmed:
            raise JobRefused(
                "Confirm that you may add these contacts (--permission-confirmed): "
                "importing people without a basis is not allowed."
            )
        if job.every_hours not in ALLOWED_EVERY_HOURS:
            raise JobRefused(f"every_hours must be one of {ALLOWED_EVERY_HOURS}.")
        try:
            ZoneInfo(job.time_zone)
        except (KeyError, ValueError):
            raise JobRefused(f"Unknown time zone {job.time_zone}.") from None
        scheduled = job.model_copy(update={"next_run_at": next_run_after(job, self._clock())})
        self._jobs.put(scheduled)
        return scheduled

    def show(self, job_id: str) -> ImportJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"No import job named {job_id}.")
        return job

    def list_all(self) -> list[ImportJob]:
        return sorted(self._jobs.list_all(), key=lambda job: job.job_id)

    def set_paused(self, job_id: str, paused: bool) -> ImportJob:
        job = self.show(job_id)
        updated = job.model_copy(
            update={"paused": paused, "next_run_at": None if paused else next_run_after(job, self._clock())}
        )
        self._jobs.put(updated)
        return updated

    def run_now(self, job_id: str) -> JobRun:
        return self.start(self.show(job_id))

    def start(self, job: ImportJob) -> JobRun:
        run = JobRun(
            run_id=uuid.uuid4().hex,
            job_id=job.job_id,
            status=RunStatus.QUEUED,
            started_at=self._clock(),
            incremental_cursor=job.incremental_cursor,
        )
        self._runs.save(run, expected_pages=None)
        self._queue.enqueue(run.run_id)
        return run

    def continue_run(self, run_id: str) -> None:
        """Hand a run over to a fresh invocation (before the Lambda timeout)."""
        self._queue.enqueue(run_id)

    def runs(self, job_id: str, limit: int = 20) -> list[JobRun]:
        self.show(job_id)
        return self._runs.for_job(job_id, limit)

    def run(self, run_id: str) -> JobRun | None:
        return self._runs.get(run_id)

    def start_due(self) -> int:
        """Start every job that is due (schedule tick); returns how many started."""
        now = self._clock()
        started = 0
        for job in self._jobs.list_all():
            if job.paused or job.next_run_at is None or job.next_run_at > now:
                continue
            self._jobs.put(job.model_copy(update={"next_run_at": next_run_after(job, now)}))
            self.start(job)
            started += 1
        return started


@dataclass(frozen=True)
class SliceResult:
    run: JobRun | None
    finished: bool


class RunImport:
    def __init__(
        self,
        jobs: JobRepository,
        runs: RunRepository,
        connectors: Mapping[str, SourceConnector],
        ingest: IngestContacts,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._jobs = jobs
        self._runs = runs
        self._connectors = connectors
        self._ingest = ingest
        self._clock = clock

    def run_slice(self, run_id: str, seconds_left: Callable[[], float]) -> SliceResult:
        """Apply pages until the source ends (finished) or time runs short (hand over)."""
        run = self._runs.get(run_id)
        if run is None or run.status in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
            return SliceResult(run=run, finished=True)
        job = self._jobs.get(run.job_id)
        if job is None:
            return SliceResult(
                run=self._finish(run, RunStatus.FAILED, "the job no longer exists"), finished=True
            )
        if run.status is RunStatus.QUEUED:
            running = run.model_copy(update={"status": RunStatus.RUNNING})
            if not self._runs.save(running, expected_pages=run.counters.pages):
                return SliceResult(run=None, finished=True)
            run = running
        connector = self._connectors.get(job.connector.kind)
        if connector is None:
            return SliceResult(
                run=self._finish(run, RunStatus.FAILED, "no connector for this source"), finished=True
            )
        source = source_for(job)
        checkpoint, cursor = run.checkpoint, run.incremental_cursor
        try:
            # The next page is read and checked while this one is stored (``ReadAhead``).
            with ReadAhead(
                lambda: (
                    _check_page(job, source, page, read_at=self._clock())
                    for page in connector.pages(job, checkpoint, cursor)
                )
            ) as pages:
                for page in pages:
                    applied = self._apply_page(job, source, run, page)
                    if not self._runs.save(applied, expected_pages=run.counters.pages):
                        return SliceResult(run=None, finished=True)  # another invocation has this run
                    run = applied
                    if page.on_applied is not None:
                        page.on_applied()
                    if page.next_checkpoint is not None and seconds_left() < HANDOVER_MARGIN_SECONDS:
                        return SliceResult(run=run, finished=False)
        except ServiceUnavailable:
            raise  # the queue brings the run back; it resumes from its checkpoint
        except (ConfigurationError, ClientError) as error:
            return SliceResult(run=self._finish(run, RunStatus.FAILED, error.message), finished=True)
        finished = self._finish(run, RunStatus.SUCCEEDED, None)
        if finished.incremental_cursor != job.incremental_cursor:
            # Only a successful run moves the job's incremental cursor.
            self._jobs.put(job.model_copy(update={"incremental_cursor": finished.incremental_cursor}))
        return SliceResult(run=finished, finished=True)

    def _apply_page(self, job: ImportJob, source: Source, run: JobRun, page: CheckedPage) -> JobRun:
        counters = run.counters.model_copy()
        counters.rejected += len(page.rejections)
        counters.skipped += page.skipped
        rejections = [*run.rejections, *page.rejections]
        if page.payloads.count:
            outcome = self._ingest.apply(
                source,
                page.payloads,
                InboundRequest(
                    source_id=source.source_id, headers={}, raw_body="", user_agent="contactsync import"
                ),
                mode=job.mode,
            )
            for item in outcome.outcomes:
                match item.effect:
                    case Effect.CREATED:
                        counters.added += 1
                    case Effect.UPDATED:
                        counters.updated += 1
                    case Effect.UNCHANGED if item.created_by == source.source_id and (
                        item.created_at is not None and item.created_at > run.started_at
                    ):
                        counters.added += 1  # created by this very run, on a page applied before a crash
                    case Effect.UNCHANGED:
                        counters.unchanged += 1
                    case Effect.SKIPPED:
                        counters.skipped += 1
                    case Effect.REJECTED:
                        counters.rejected += 1
                        reason = "; ".join(f"{p.path}: {p.message}" for p in item.problems)
                        rejections.append(Rejection(where=page.wheres[item.index], reason=reason))
        counters.pages += 1
        return run.model_copy(
            update={
                "checkpoint": page.next_checkpoint,
                "incremental_cursor": page.incremental_cursor or run.incremental_cursor,
                "counters": counters,
                "rejections": tuple(rejections[:MAX_REJECTIONS_KEPT]),
            }
        )

    def _finish(self, run: JobRun, status: RunStatus, error: str | None) -> JobRun:
        finished = run.model_copy(update={"status": status, "finished_at": self._clock(), "error": error})
        self._runs.save(finished, expected_pages=run.counters.pages)
        return finished


@dataclass(frozen=True)
class CheckedPage:
    """A source page with its records selected, mapped and validated; nothing stored yet."""

    payloads: CheckedPayloads
    wheres: list[str]  # where each payload came from in the source, for rejections
    rejections: list[Rejection]  # records the connector could not read
    skipped: int  # records the job's selection leaves out
    next_checkpoint: str | None
    incremental_cursor: str | None
    on_applied: Callable[[], None] | None = None


def _check_page(job: ImportJob, source: Source, page: SourcePage, *, read_at: datetime) -> CheckedPage:
    rejections: list[Rejection] = []
    skipped = 0
    payloads: list[dict[str, Any]] = []
    wheres: list[str] = []
    for record in page.records:
        if record.problem is not None:
            rejections.append(Rejection(where=record.where, reason=record.problem))
        elif not _selected(job, record.fields):
            skipped += 1
        else:
            payloads.append(record.fields)
            wheres.append(record.where)
    return CheckedPage(
        payloads=check_payloads(source, payloads, read_at, _consent_defaults(job, read_at)),
        wheres=wheres,
        rejections=rejections,
        skipped=skipped,
        next_checkpoint=page.next_checkpoint,
        incremental_cursor=page.incremental_cursor,
        on_applied=page.on_applied,
    )


def _selected(job: ImportJob, fields: Mapping[str, Any]) -> bool:
    return all(str(value_at(fields, path)) == expected for path, expected in job.selection.items())


def _consent_defaults(job: ImportJob, now: datetime) -> dict[str, str] | None:
    """A job's recorded basis, as consent evidence for its records that bring none of their own
    (no ``consent_basis`` under any name the job's mapping gives it).

    The date is the record's own (a field mapped to ``consent_obtained_at``), else the job's. Only
    express consent falls back to the run's time: implied consent runs from a purchase or an
    inquiry (CASL), and dating it at each run would renew it for ever; a record of an implied job
    without a date is refused with the consent problem, and says why.
    """
    if job.consent is None:
        return None
    defaults = {"consent_basis": job.consent.basis.value, "consent_method": job.consent.method}
    obtained_at = job.consent.obtained_at
    if obtained_at is None and job.consent.basis is ConsentBasis.EXPRESS:
        obtained_at = now
    if obtained_at is not None:
        defaults["consent_obtained_at"] = obtained_at.isoformat()
    return defaults
