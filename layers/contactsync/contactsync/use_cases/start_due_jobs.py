"""Sync: on each schedule tick, lapse expired implied consent, start the import jobs that are due,
and queue what the outbox holds (messages SQS did not take when they were first sent)."""

from __future__ import annotations

from dataclasses import dataclass

from contactsync.use_cases.held_messages import RelayHeldMessages
from contactsync.use_cases.lapse_implied_consent import LapseImpliedConsent
from contactsync.use_cases.run_imports import ManageImportJobs


@dataclass(frozen=True)
class SyncTickReport:
    jobs_configured: int
    jobs_started: int
    consents_lapsed: int
    held_messages_queued: int = 0
    held_messages_left: int = 0


class StartDueJobs:
    def __init__(
        self, jobs: ManageImportJobs, lapse: LapseImpliedConsent, relay: RelayHeldMessages | None = None
    ) -> None:
        self._jobs = jobs
        self._lapse = lapse
        self._relay = relay

    def execute(self) -> SyncTickReport:
        lapsed = self._lapse.execute()
        started = self._jobs.start_due()
        # Last, so that what this tick's own steps had to hold is queued in the same tick.
        relayed = self._relay.execute() if self._relay is not None else None
        return SyncTickReport(
            jobs_configured=len(self._jobs.list_all()),
            jobs_started=started,
            consents_lapsed=lapsed,
            held_messages_queued=relayed.queued if relayed else 0,
            held_messages_left=relayed.still_held if relayed else 0,
        )
