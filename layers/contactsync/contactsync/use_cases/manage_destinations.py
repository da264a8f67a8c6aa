"""Operator actions on destinations: add (credentials to Secrets Manager), list, show, disable, backfill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.contact import utc_now
from contactsync.domain.destination import Destination, DestinationType
from contactsync.errors import ClientError
from contactsync.ports import ChangePublisher, ContactRepository, DestinationRepository
from contactsync.use_cases.manage_sources import new_signing_secret


class DestinationNotFound(ClientError):
    code = "destination_not_found"
    public_message = "No destination has this id."


class DestinationExists(ClientError):
    code = "destination_exists"
    public_message = "A destination with this id already exists."


class CredentialStore(Protocol):
    def store(self, destination_id: str, entry: dict[str, str]) -> None: ...


class AllDestinations(DestinationRepository, Protocol):
    def get(self, destination_id: str) -> Destination | None: ...

    def list_all(self) -> list[Destination]: ...


@dataclass(frozen=True)
class BackfillProgress:
    queued: int
    resume_from: str | None


class ManageDestinations:
    def __init__(
        self,
        destinations: AllDestinations,
        credentials: CredentialStore,
        contacts: ContactRepository,
        changes: ChangePublisher,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._destinations = destinations
        self._credentials = credentials
        self._contacts = contacts
        self._changes = changes
        self._clock = clock

    def add(self, destination: Destination, api_key: str | None = None) -> str | None:
        """Store the destination; returns a new webhook signing secret to show once (webhooks only)."""
        if self._destinations.get(destination.destination_id) is not None:
            raise DestinationExists(f"A destination named {destination.destination_id} already exists.")
        secret: str | None = None
        if destination.type is DestinationType.SIGNED_WEBHOOK:
            secret = new_signing_secret()
            self._credentials.store(destination.destination_id, {"signing_secret": secret})
        elif api_key:
            self._credentials.store(destination.destination_id, {"api_key": api_key})
        self._destinations.put(destination)
        return secret

    def show(self, destination_id: str) -> Destination:
        destination = self._destinations.get(destination_id)
        if destination is None:
            raise DestinationNotFound(f"No destination named {destination_id}.")
        return destination

    def list_all(self) -> list[Destination]:
        return sorted(self._destinations.list_all(), key=lambda d: d.destination_id)

    def disable(self, destination_id: str) -> Destination:
        disabled = self.show(destination_id).model_copy(update={"enabled": False})
        self._destinations.put(disabled)
        return disabled

    def backfill(
        self,
        destination_id: str,
        resume_from: str | None = None,
        on_page: Callable[[BackfillProgress], None] | None = None,
    ) -> int:
        """Queue every contact for one destination through the push queue, a page at a time.

        Resumable: each page reports where to resume; the Push function skips
        contacts the destination already holds, so a rerun costs no calls there.
        """
        self.show(destination_id)
        queued = 0
        cursor = resume_from
        while True:
            contacts, cursor = self._contacts.scan_page(cursor)
            now = self._clock()
            changes = [
                ContactChange(
                    contact_id=c.contact_id, version=c.version, kind=ChangeKind.UPDATED, occurred_at=now
                )
                for c in contacts
            ]
            if changes:
                self._changes.publish(changes, destination_id=destination_id)
            queued += len(changes)
            if on_page:
                on_page(BackfillProgress(queued=queued, resume_from=cursor))
            if cursor is None:
                return queued
