"""Sync: on each schedule tick, find the import jobs that are due and start them."""

from __future__ import annotations

from dataclasses import dataclass

from contactsync.ports import JobRepository


@dataclass(frozen=True)
class SyncTickReport:
    jobs_configured: int
    jobs_started: int


class StartDueJobs:
    def __init__(self, jobs: JobRepository) -> None:
        self._jobs = jobs

    def execute(self) -> SyncTickReport:
        configured = self._jobs.list_job_ids()
        # Connectors and schedules per job arrive with the recurring-imports work.
        return SyncTickReport(jobs_configured=len(configured), jobs_started=0)
