"""Import runs with in-memory ports: modes, consent, checkpoints, handover and a crash resumed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from contactsync.domain.contact import ConsentBasis, SubscriptionStatus
from contactsync.domain.field_mapping import FieldMapping, FieldRule
from contactsync.domain.import_jobs import (
    ConsentOnImport,
    HttpJsonSourceSettings,
    ImportJob,
    ImportMode,
    JobRun,
    RunStatus,
    SourcePage,
    SourceRecord,
)
from contactsync.errors import ServiceUnavailable
from contactsync.use_cases.ingest_contacts import IngestContacts
from contactsync.use_cases.run_imports import JobRefused, ManageImportJobs, RunImport, next_run_after
from tests.unit.fakes import (
    InMemoryContacts,
    RecordingOptIns,
    RecordingPublisher,
    in_memory_dependencies,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class InMemoryJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, ImportJob] = {}

    def get(self, job_id: str) -> ImportJob | None:
        return self.jobs.get(job_id)

    def put(self, job: ImportJob) -> None:
        self.jobs[job.job_id] = job

    def list_all(self) -> list[ImportJob]:
        return list(self.jobs.values())


class InMemoryRuns:
    def __init__(self) -> None:
        self.runs: dict[str, JobRun] = {}

    def get(self, run_id: str) -> JobRun | None:
        return self.runs.get(run_id)

    def save(self, run: JobRun, expected_pages: int | None) -> bool:
        stored = self.runs.get(run.run_id)
        if expected_pages is not None and stored is not None and stored.counters.pages != expected_pages:
            return False
        self.runs[run.run_id] = run
        return True

    def for_job(self, job_id: str, limit: int = 20) -> list[JobRun]:
        return [r for r in self.runs.values() if r.job_id == job_id][:limit]


class RecordingRunQueue:
    def __init__(self) -> None:
        self.queued: list[str] = []

    def enqueue(self, run_id: str) -> None:
        self.queued.append(run_id)


class PagedSource:
    """Pages of records from a list; can crash after a number of pages (a killed process)."""

    def __init__(self, records: list[dict[str, str]], page_size: int = 3) -> None:
        self.records = records
        self.page_size = page_size
        self.crash_after_pages: int | None = None
        self.stored_pages: list[int] = []  # the pages the run said it stored (``on_applied``)

    def pages(
        self, job: ImportJob, checkpoint: str | None, incremental_cursor: str | None
    ) -> Iterator[SourcePage]:
        start = json.loads(checkpoint)["offset"] if checkpoint else 0
        served = 0
        while start < len(self.records):
            if self.crash_after_pages is not None and served == self.crash_after_pages:
                raise SystemExit("killed")
            end = start + self.page_size
            chunk = self.records[start:end]
            records = [SourceRecord(where=f"record {start + i + 1}", fields=r) for i, r in enumerate(chunk)]
            yield SourcePage(
                records=records,
                next_checkpoint=json.dumps({"offset": end}) if end < len(self.records) else None,
                on_applied=partial(self.stored_pages.append, served),
            )
            served += 1
            start = end


def make_job(**changes: object) -> ImportJob:
    values: dict[str, object] = {
        "job_id": "members",
        "name": "Members",
        "connector": HttpJsonSourceSettings(url="https://members.example/api"),
        "permission_confirmed": True,
        "created_at": NOW,
    }
    values.update(changes)
    return ImportJob(**values)  # type: ignore[arg-type]


def world(
    records: list[dict[str, str]], job: ImportJob
) -> tuple[ManageImportJobs, RunImport, InMemoryContacts, PagedSource, RecordingPublisher]:
    contacts, changes, opt_ins = InMemoryContacts(), RecordingPublisher(), RecordingOptIns()
    deps = in_memory_dependencies(contacts=contacts, changes=changes, opt_ins=opt_ins)
    ids = iter(f"c{n}" for n in range(10_000))
    ingest = IngestContacts(deps, clock=lambda: NOW, new_id=lambda: next(ids))
    jobs, runs, queue = InMemoryJobs(), InMemoryRuns(), RecordingRunQueue()
    jobs.put(job)
    source = PagedSource(records)
    manage = ManageImportJobs(jobs, runs, queue, clock=lambda: NOW)
    runner = RunImport(jobs, runs, {"http_json": source}, ingest, clock=lambda: NOW)
    assert opt_ins.published == []
    return manage, runner, contacts, source, changes


RECORDS = [{"email": f"m{n}@example.com", "first_name": f"M{n}"} for n in range(10)]


def test_a_job_without_the_operators_permission_is_refused() -> None:
    manage, *_ = world([], make_job())
    with pytest.raises(JobRefused):
        manage.add(make_job(permission_confirmed=False))


def test_a_run_imports_every_page_and_reports_it() -> None:
    manage, runner, contacts, _, changes = world(RECORDS, make_job())
    run = manage.run_now("members")
    result = runner.run_slice(run.run_id, seconds_left=lambda: 900)
    assert result.finished
    assert result.run is not None
    assert result.run.status is RunStatus.SUCCEEDED
    assert (result.run.counters.added, result.run.counters.pages) == (10, 4)
    # Without a recorded basis, imported contacts are stored but never subscribed or mailed
    assert {c.status for c in contacts.by_id.values()} == {SubscriptionStatus.NOT_SUBSCRIBED}
    assert len(changes.published) == 10


def test_a_rerun_with_nothing_changed_writes_and_pushes_nothing() -> None:
    manage, runner, _, _, changes = world(RECORDS, make_job())
    runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    pushed = len(changes.published)
    again = runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    assert again.run is not None
    assert (again.run.counters.unchanged, again.run.counters.added) == (10, 0)
    assert len(changes.published) == pushed


def test_a_recorded_basis_subscribes_with_evidence() -> None:
    job = make_job(consent=ConsentOnImport(basis=ConsentBasis.EXPRESS, method="membership form"))
    manage, runner, contacts, _, _ = world(RECORDS[:2], job)
    runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    contact = next(iter(contacts.by_id.values()))
    assert contact.status is SubscriptionStatus.SUBSCRIBED
    assert contact.consent is not None
    assert contact.consent.method == "membership form"


def test_implied_consent_runs_from_each_records_own_date_never_from_the_run() -> None:
    # Given a job recording implied consent (a purchase) without a date of its own, whose records
    # carry their purchase date (a recent one, one past the 2 years CASL allows) or none
    job = make_job(consent=ConsentOnImport(basis=ConsentBasis.IMPLIED, method="purchase"))
    records = [
        {**RECORDS[0], "consent_obtained_at": "2026-06-01"},
        {**RECORDS[1], "consent_obtained_at": "2023-06-01"},
        RECORDS[2],
    ]
    manage, runner, contacts, _, _ = world(records, job)
    # When the job runs
    result = runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    # Then the recent purchase subscribes until 2 years after it, the old one is stored unsubscribed,
    # and the record without a date is refused with the consent problem (not dated by the run)
    by_email = {c.profile.email: c for c in contacts.by_id.values()}
    recent, old = by_email[RECORDS[0]["email"]], by_email[RECORDS[1]["email"]]
    assert recent.status is SubscriptionStatus.SUBSCRIBED
    assert recent.consent is not None
    assert recent.consent.expires_at == datetime(2028, 5, 31, tzinfo=UTC)
    assert old.status is SubscriptionStatus.NOT_SUBSCRIBED
    assert RECORDS[2]["email"] not in by_email
    assert result.run is not None
    assert result.run.counters.rejected == 1


def test_a_record_with_its_own_mapped_basis_is_never_dated_by_the_run() -> None:
    # Given an express-consent job whose mapping reads each record's own basis from a column
    mapping = FieldMapping(rules=(FieldRule(source_path="Basis", target="consent_basis"),))
    job = make_job(
        consent=ConsentOnImport(basis=ConsentBasis.EXPRESS, method="membership form"), field_mapping=mapping
    )
    records = [{**RECORDS[0], "Basis": "implied"}, RECORDS[1]]
    manage, runner, contacts, _, _ = world(records, job)
    # When the job runs
    result = runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    # Then the record saying "implied" without a date is refused (never dated by the run, which would
    # renew it at every run), and the record without a basis of its own gets the job's express consent
    by_email = {c.profile.email: c for c in contacts.by_id.values()}
    assert RECORDS[0]["email"] not in by_email
    assert by_email[RECORDS[1]["email"]].status is SubscriptionStatus.SUBSCRIBED
    assert result.run is not None
    assert result.run.counters.rejected == 1


@pytest.mark.parametrize(("mode", "added", "updated", "skipped"), [
    (ImportMode.ADD_ONLY, 5, 0, 5),
    (ImportMode.UPDATE_ONLY, 0, 5, 5),
    (ImportMode.ADD_AND_UPDATE, 5, 5, 0),
])  # fmt: skip
def test_each_mode(mode: ImportMode, added: int, updated: int, skipped: int) -> None:
    manage, runner, _, source, _ = world(RECORDS[:5], make_job())
    runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)  # five known contacts
    manage._jobs.put(make_job(mode=mode))
    source.records = [{**r, "first_name": "Changed"} for r in RECORDS[:5]] + RECORDS[5:]
    result = runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    assert result.run is not None
    c = result.run.counters
    assert (c.added, c.updated, c.skipped) == (added, updated, skipped)


def test_bad_records_are_reported_with_where_they_were_and_the_run_goes_on() -> None:
    records = [*RECORDS[:2], {"email": "not-an-address"}, *RECORDS[2:4]]
    manage, runner, contacts, _, _ = world(records, make_job())
    result = runner.run_slice(manage.run_now("members").run_id, seconds_left=lambda: 900)
    assert result.run is not None
    assert result.run.counters.rejected == 1
    assert result.run.rejections[0].where == "record 3"
    assert len(contacts.by_id) == 4


def test_a_run_hands_over_before_the_timeout_and_goes_on_where_it_stopped() -> None:
    manage, runner, contacts, _, _ = world(RECORDS, make_job())
    run = manage.run_now("members")
    first = runner.run_slice(run.run_id, seconds_left=lambda: 10)  # short of time: one page, then hand over
    assert not first.finished
    assert first.run is not None
    assert first.run.counters.pages == 1
    second = runner.run_slice(run.run_id, seconds_left=lambda: 900)
    assert second.finished
    assert len(contacts.by_id) == 10


def test_a_killed_run_resumes_to_the_same_state_as_an_uninterrupted_one() -> None:
    # Given one uninterrupted run, and one killed after two pages then resumed
    manage_a, runner_a, contacts_a, _, changes_a = world(RECORDS, make_job())
    runner_a.run_slice(manage_a.run_now("members").run_id, seconds_left=lambda: 900)
    manage_b, runner_b, contacts_b, source_b, changes_b = world(RECORDS, make_job())
    run = manage_b.run_now("members")
    source_b.crash_after_pages = 2
    with pytest.raises(SystemExit):
        runner_b.run_slice(run.run_id, seconds_left=lambda: 900)
    source_b.crash_after_pages = None
    resumed = runner_b.run_slice(run.run_id, seconds_left=lambda: 900)
    # Then the contacts are the same, none lost, none pushed twice
    assert resumed.run is not None
    assert resumed.run.status is RunStatus.SUCCEEDED

    def snapshot(c: InMemoryContacts) -> set[tuple[str | None, str | None, int]]:
        return {(x.profile.email, x.profile.first_name, x.version) for x in c.by_id.values()}

    assert snapshot(contacts_b) == snapshot(contacts_a)
    assert len(changes_b.published) == len(changes_a.published) == 10
    assert resumed.run.counters.added == 10


def test_schedules_every_n_hours_and_daily_at_a_local_hour() -> None:
    assert next_run_after(make_job(every_hours=6), NOW) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC).replace(
        hour=17
    )
    daily = next_run_after(make_job(every_hours=24, at_hour=2), NOW)
    assert daily == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 02:00 in Toronto (UTC-5)


class FailingOnPage:
    """The ingest use case, failing (DynamoDB throttled) on one page of the run."""

    def __init__(self, ingest: IngestContacts, failing_call: int) -> None:
        self.ingest, self.failing_call, self.calls = ingest, failing_call, 0

    def apply(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.failing_call:
            raise ServiceUnavailable("throttled")
        return self.ingest.apply(*args, **kwargs)


def test_a_page_is_acknowledged_to_its_source_only_once_stored() -> None:
    # Given a run whose second page fails to be stored, while the third was already read ahead
    manage, runner, _, source, _ = world(RECORDS, make_job())
    runner._ingest = FailingOnPage(runner._ingest, failing_call=2)  # type: ignore[assignment]
    run = manage.run_now("members")
    # When the run's slice fails
    with pytest.raises(ServiceUnavailable):
        runner.run_slice(run.run_id, seconds_left=lambda: 900)
    # Then only the stored page was acknowledged (a CSV file is never marked imported early)
    assert source.stored_pages == [0]
    # And when the queue brings the run back, every page is acknowledged once stored
    resumed = runner.run_slice(run.run_id, seconds_left=lambda: 900)
    assert resumed.run is not None
    assert resumed.run.status is RunStatus.SUCCEEDED
    assert source.stored_pages == [0, 0, 1, 2]
