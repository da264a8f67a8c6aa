"""Implied consent lapses by itself (CASL: 2 years after a purchase, 6 months after an inquiry).

Run on every schedule tick: each contact past its expiry stops being
subscribed, the ledger records it, and destinations are told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.consent_ledger import ConsentEventDraft, ConsentEventType
from contactsync.domain.contact import SubscriptionStatus, utc_now
from contactsync.ports import ChangePublisher, ConsentTransactions, ContactRepository


class LapseImpliedConsent:
    def __init__(
        self,
        contacts: ContactRepository,
        transactions: ConsentTransactions,
        changes: ChangePublisher,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._contacts = contacts
        self._transactions = transactions
        self._changes = changes
        self._clock = clock

    def execute(self) -> int:
        now = self._clock()
        changes: list[ContactChange] = []
        for contact in self._contacts.consent_expiring_before(now):
            consent = contact.consent
            if consent is None or consent.expires_at is None or consent.expires_at > now:
                continue
            lapsed = contact.moved_to(SubscriptionStatus.NOT_SUBSCRIBED, now)
            event = ConsentEventDraft(
                type=ConsentEventType.LAPSED,
                at=now,
                basis=consent.basis,
                expires_at=consent.expires_at,
                purpose=tuple(contact.lists),
                method="implied consent expired",
            )
            if self._transactions.commit(lapsed, contact.version, event, use_token=None, now=now):
                changes.append(
                    ContactChange(
                        contact_id=lapsed.contact_id,
                        version=lapsed.version,
                        kind=ChangeKind.CONSENT_LAPSED,
                        occurred_at=now,
                    )
                )
        if changes:
            self._changes.publish(changes)
        return len(changes)
