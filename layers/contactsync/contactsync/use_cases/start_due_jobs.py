"""Sync: on each schedule tick, lapse expired implied consent and start the import jobs that are due."""

from __future__ import annotations

from dataclasses import dataclass

from contactsync.use_cases.lapse_implied_consent import LapseImpliedConsent
from contactsync.use_cases.run_imports import ManageImportJobs


@dataclass(frozen=True)
class SyncTickReport:
    jobs_configured: int
    jobs_started: int
    consents_lapsed: int


class StartDueJobs:
    def __init__(self, jobs: ManageImportJobs, lapse: LapseImpliedConsent) -> None:
        self._jobs = jobs
        self._lapse = lapse

    def execute(self) -> SyncTickReport:
        lapsed = self._lapse.execute()
        started = self._jobs.start_due()
        return SyncTickReport(
            jobs_configured=len(self._jobs.list_all()), jobs_started=started, consents_lapsed=lapsed
        )
