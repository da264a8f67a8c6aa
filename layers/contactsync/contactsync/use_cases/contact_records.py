"""Operator actions on one person's records: show the contact and its consent proof, erase it (GDPR)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.consent_ledger import ConsentEvent, chain_is_intact
from contactsync.domain.contact import Contact, utc_now
from contactsync.domain.identity import InvalidIdentity, email_key, normalise_email
from contactsync.errors import FieldProblem, ValidationFailed
from contactsync.ports import ChangePublisher, ConsentLedger, ContactRepository, SuppressionList


@dataclass(frozen=True)
class ConsentRecord:
    contact: Contact
    events: list[ConsentEvent]
    chain_intact: bool


def identity_of(email: str) -> str:
    try:
        return f"EMAIL#{email_key(normalise_email(email))}"
    except InvalidIdentity as error:
        raise ValidationFailed([FieldProblem("email", str(error))]) from None


class ContactRecords:
    def __init__(
        self,
        contacts: ContactRepository,
        ledger: ConsentLedger,
        suppression: SuppressionList,
        changes: ChangePublisher,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._contacts = contacts
        self._ledger = ledger
        self._suppression = suppression
        self._changes = changes
        self._clock = clock

    def find(self, email: str) -> Contact | None:
        return self._contacts.find_by_identity(identity_of(email))

    def consent_record(self, email: str) -> ConsentRecord | None:
        contact = self.find(email)
        if contact is None:
            return None
        events = self._ledger.events(contact.contact_id)
        return ConsentRecord(contact=contact, events=events, chain_intact=chain_is_intact(events))

    def erase(self, email: str) -> bool:
        """Remove the personal data, keeping only a keyed hash so the opt-out survives.

        Returns whether a contact existed.

        Destinations are told (an ``erased`` change) so they delete their copy too.
        """
        identity = identity_of(email)
        self._suppression.suppress(identity)
        contact = self._contacts.find_by_identity(identity)
        if contact is None:
            return False
        if contact.profile.phone:
            self._suppression.suppress(f"PHONE#{contact.profile.phone}")
        self._ledger.erase(contact.contact_id)
        self._contacts.erase(contact)
        self._changes.publish(
            [
                ContactChange(
                    contact_id=contact.contact_id,
                    version=contact.version + 1,
                    kind=ChangeKind.ERASED,
                    occurred_at=self._clock(),
                )
            ]
        )
        return True
