"""The small interfaces the use cases need; adapters implement them.

Use cases depend on these protocols only, so tests can hand them fakes or the
real adapters pointed at DynamoDB Local and moto.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from contactsync.domain.change import ContactChange
    from contactsync.domain.consent_ledger import ConsentEvent, ConsentEventDraft
    from contactsync.domain.contact import Contact
    from contactsync.domain.destination import Destination
    from contactsync.domain.import_jobs import ImportJob, JobRun
    from contactsync.domain.opt_in_tokens import LinkToken
    from contactsync.domain.push_state import PushState
    from contactsync.domain.source import Source
    from contactsync.models.outgoing_mail import OutgoingMail
    from contactsync.models.queue_messages import HeldMessage, OptInRequest


class ContactRepository(Protocol):
    def find_by_identity(self, identity_key: str) -> Contact | None:
        """The contact holding this identity (strongly consistent), if any."""
        ...

    def find_many_by_identity(self, identity_keys: Sequence[str]) -> dict[str, Contact]:
        """Contacts by identity, in batches (BatchGetItem), for a whole request or page at once."""
        ...

    def create_many(self, contacts: Sequence[Contact]) -> list[Contact]:
        """Create in transactions of many; returns those not created (conflicts), to retry one by one.

        When a transaction fails after others succeeded, raises ``WritesInterrupted``
        naming the contacts already stored.
        """
        ...

    def update_many(self, updates: Sequence[tuple[Contact, int]]) -> list[Contact]:
        """Replace each contact if still at its expected version; returns those not written.

        When a transaction fails after others succeeded, raises ``WritesInterrupted``
        naming the contacts already stored.
        """
        ...

    def create(self, contact: Contact) -> bool:
        """Store a new contact and claim its identity atomically; False if the identity is taken."""
        ...

    def update(self, contact: Contact, expected_version: int) -> bool:
        """Replace the stored contact if it is still at ``expected_version``; False otherwise."""
        ...

    def move_identity(self, contact: Contact, previous_identity_key: str, expected_version: int) -> bool:
        """Move a contact to a new identity (email change) atomically; False on any conflict."""
        ...

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]: ...

    def erase(self, contact: Contact) -> None:
        """Delete the contact and its identity guard."""
        ...

    def consent_expiring_before(self, moment: datetime, limit: int = 500) -> list[Contact]: ...

    def scan_page(self, start_after: str | None, limit: int = 500) -> tuple[list[Contact], str | None]:
        """Every contact, a page at a time (backfills); returns the page and where to resume."""
        ...


class OptInRequestPublisher(Protocol):
    def publish(self, requests: Sequence[OptInRequest]) -> None:
        """Queue confirmation mails; raises ``ServiceUnavailable`` if any is not queued.

        ``MessagesNotQueued`` (a ``ServiceUnavailable``) names exactly which ones were not.
        """
        ...


class Outbox(Protocol):
    """Messages that could not be queued, kept in the contacts table until a later try queues them."""

    def hold(self, messages: Sequence[HeldMessage]) -> None:
        """Keep them (holding the same message twice keeps it once); raises ``ServiceUnavailable``."""
        ...

    def held(self, limit: int = 500) -> list[HeldMessage]:
        """Up to ``limit`` held messages, oldest first among those read."""
        ...

    def release(self, messages: Sequence[HeldMessage]) -> None:
        """Forget messages that have now been queued."""
        ...


class SuppressionList(Protocol):
    """Addresses that opted out or were erased, kept only as keyed hashes."""

    def is_suppressed(self, identity_key: str) -> bool: ...

    def suppressed_among(self, identity_keys: Sequence[str]) -> set[str]: ...

    def suppress(self, identity_key: str) -> None: ...


class RateLimiter(Protocol):
    def allow(self, key: str, limit: int, now: datetime, window_seconds: int = 60) -> bool:
        """Count one request under ``key`` for the current window; False past the limit."""
        ...


class ConsentLedger(Protocol):
    def events(self, contact_id: str) -> list[ConsentEvent]: ...

    def append(self, contact_id: str, draft: ConsentEventDraft) -> ConsentEvent:
        """Chain and store one event; retries on a concurrent append."""
        ...

    def erase(self, contact_id: str) -> int:
        """Delete every event of an erased contact; returns how many."""
        ...


class LinkTokens(Protocol):
    def issue(self, token: LinkToken) -> None: ...

    def find(self, digest: str) -> LinkToken | None: ...


class ConsentTransactions(Protocol):
    def commit(
        self,
        contact: Contact,
        expected_version: int,
        event: ConsentEventDraft,
        use_token: LinkToken | None,
        now: datetime,
    ) -> bool:
        """Store the contact, append the ledger event and spend the token in one transaction.

        False when the contact or the token changed meanwhile (nothing written).
        """
        ...


class MailSender(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Send one mail; returns its Message-ID. Raises ``ServiceUnavailable`` to retry later."""
        ...


class SourceSigningSecrets(Protocol):
    def secrets_for(self, source_id: str, now: datetime, *, fresh: bool = False) -> list[str]:
        """The Standard Webhooks secrets valid now (the current one, and the previous ones during rotation).

        ``fresh`` bypasses any cache: a signature is refused only on what is stored.
        """
        ...


class SourceRepository(Protocol):
    def get(self, source_id: str, *, fresh: bool = False) -> Source | None:
        """The source; ``fresh`` bypasses any cache (a refusal must rest on what is stored)."""
        ...

    def put(self, source: Source) -> None: ...

    def list_all(self) -> list[Source]: ...


class ChangePublisher(Protocol):
    def publish(self, changes: Sequence[ContactChange], destination_id: str | None = None) -> None:
        """Queue every change for delivery; raises ``ServiceUnavailable`` if any is not queued.

        ``MessagesNotQueued`` (a ``ServiceUnavailable``) names exactly which ones were not.
        """
        ...


class DestinationRepository(Protocol):
    def list_enabled(self) -> list[Destination]: ...

    def put(self, destination: Destination) -> None: ...


class PushStates(Protocol):
    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], PushState]:
        """By (contact_id, destination_id), in batches."""
        ...

    def for_contact(self, contact_id: str) -> list[PushState]: ...

    def save_many(self, states: Sequence[PushState]) -> None: ...

    def delete(self, contact_id: str, destination_id: str) -> None: ...


class DeadLetters(Protocol):
    def send(self, message_body: str, reason: str) -> None:
        """Park a message that will never succeed, with the reason, for `contactsync dlq`."""
        ...


class JobRepository(Protocol):
    def get(self, job_id: str) -> ImportJob | None: ...

    def put(self, job: ImportJob) -> None: ...

    def list_all(self) -> list[ImportJob]: ...


class RunRepository(Protocol):
    def get(self, run_id: str) -> JobRun | None: ...

    def save(self, run: JobRun, expected_pages: int | None) -> bool: ...

    def for_job(self, job_id: str, limit: int = 20) -> list[JobRun]: ...


class RunQueue(Protocol):
    def enqueue(self, run_id: str) -> None:
        """Ask the Sync function to run (or go on with) this run."""
        ...
