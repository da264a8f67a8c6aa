"""The small interfaces the use cases need; adapters implement them.

Use cases depend on these protocols only, so tests can hand them fakes or the
real adapters pointed at DynamoDB Local and moto.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from contactsync.domain.change import ContactChange
    from contactsync.domain.contact import Contact
    from contactsync.domain.destination import Destination
    from contactsync.domain.source import Source


class ContactRepository(Protocol):
    def find_by_identity(self, identity_key: str) -> Contact | None:
        """The contact holding this identity (strongly consistent), if any."""
        ...

    def create(self, contact: Contact) -> bool:
        """Store a new contact and claim its identity atomically; False if the identity is taken."""
        ...

    def update(self, contact: Contact, expected_version: int) -> bool:
        """Replace the stored contact if it is still at ``expected_version``; False otherwise."""
        ...

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]: ...


class SourceRepository(Protocol):
    def get(self, source_id: str) -> Source | None: ...

    def put(self, source: Source) -> None: ...

    def list_all(self) -> list[Source]: ...


class ChangePublisher(Protocol):
    def publish(self, changes: Sequence[ContactChange]) -> None:
        """Queue every change for delivery; raises ``ServiceUnavailable`` if any is not queued."""
        ...


class DestinationRepository(Protocol):
    def list_enabled(self) -> list[Destination]: ...

    def put(self, destination: Destination) -> None: ...


class DestinationGateway(Protocol):
    def deliver(self, destination: Destination, change: ContactChange, contact: Contact) -> None:
        """Send one change; raises ``DeliveryFailed``."""
        ...


class JobRepository(Protocol):
    def list_job_ids(self) -> list[str]: ...
