"""Push: deliver queued changes to every enabled destination."""

from __future__ import annotations

from collections.abc import Sequence

from contactsync.domain.change import ContactChange
from contactsync.domain.contact import Contact
from contactsync.domain.destination import Destination
from contactsync.ports import ContactRepository, DestinationGateway, DestinationRepository


class DeliveryBatch:
    """One SQS batch, loaded up front: one BatchGetItem per 100 contacts, one destination query."""

    def __init__(
        self, contacts: dict[str, Contact], destinations: list[Destination], gateway: DestinationGateway
    ) -> None:
        self._contacts = contacts
        self._destinations = destinations
        self._gateway = gateway

    def deliver(self, change: ContactChange) -> int:
        """Deliver one change; returns how many destinations took it. Raises ``DeliveryFailed``.

        A change whose contact no longer exists (erased) has nothing to send.
        """
        contact = self._contacts.get(change.contact_id)
        if contact is None:
            return 0
        for destination in self._destinations:
            self._gateway.deliver(destination, change, contact)
        return len(self._destinations)


class DeliverChanges:
    def __init__(
        self, contacts: ContactRepository, destinations: DestinationRepository, gateway: DestinationGateway
    ) -> None:
        self._contacts = contacts
        self._destinations = destinations
        self._gateway = gateway

    def prepare(self, changes: Sequence[ContactChange]) -> DeliveryBatch:
        contacts = self._contacts.get_many([change.contact_id for change in changes])
        return DeliveryBatch(contacts, self._destinations.list_enabled(), self._gateway)
