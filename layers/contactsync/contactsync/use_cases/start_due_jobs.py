"""Sync: on each schedule tick, find the import jobs that are due and start them."""

from __future__ import annotations

from dataclasses import dataclass

from contactsync.ports import JobRepository
from contactsync.use_cases.lapse_implied_consent import LapseImpliedConsent


@dataclass(frozen=True)
class SyncTickReport:
    jobs_configured: int
    jobs_started: int
    consents_lapsed: int


class StartDueJobs:
    def __init__(self, jobs: JobRepository, lapse: LapseImpliedConsent) -> None:
        self._jobs = jobs
        self._lapse = lapse

    def execute(self) -> SyncTickReport:
        lapsed = self._lapse.execute()
        configured = self._jobs.list_job_ids()
        # Connectors and schedules per job arrive with the recurring-imports work.
        return SyncTickReport(jobs_configured=len(configured), jobs_started=0, consents_lapsed=lapsed)
