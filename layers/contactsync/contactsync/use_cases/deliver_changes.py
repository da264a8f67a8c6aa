"""Push: deliver a batch of queued changes to every destination they concern.

The batch is loaded at once (contacts, destinations, what each destination last
received), collapsed to one item per contact and destination, and sent with the
destination's batch call. What was already sent (same version or same content)
is skipped, so replays create no duplicates and an older version never
overwrites a newer one. Each message gets a verdict: delivered, retry later, or
dead-letter with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from contactsync.domain.contact import utc_now
from contactsync.domain.delivery import DestinationConnector, ItemResult, OutboundItem
from contactsync.domain.destination import Destination, DestinationType
from contactsync.domain.outbound_mapping import item_sha256, outbound_item
from contactsync.domain.push_state import PushState, SyncStatus
from contactsync.errors import ContactsyncError
from contactsync.models.queue_messages import PushMessage
from contactsync.ports import ContactRepository, DestinationRepository, PushStates


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


@dataclass
class MessageVerdict:
    verdict: Verdict = Verdict.DELIVERED
    retry_after_seconds: float | None = None
    reasons: list[str] = field(default_factory=list)

    def retry(self, reason: str, after: float | None) -> None:
        self.verdict = Verdict.RETRY
        self.reasons.append(reason)
        if after is not None:
            self.retry_after_seconds = max(after, self.retry_after_seconds or 0.0)

    def dead(self, reason: str) -> None:
        if self.verdict is not Verdict.RETRY:
            self.verdict = Verdict.DEAD
        self.reasons.append(reason)


@dataclass(frozen=True)
class BatchReport:
    verdicts: dict[str, MessageVerdict]
    sent: int
    skipped: int


class DeliverChanges:
    def __init__(
        self,
        contacts: ContactRepository,
        destinations: DestinationRepository,
        push_states: PushStates,
        connectors: Mapping[DestinationType, DestinationConnector],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._contacts = contacts
        self._destinations = destinations
        self._push_states = push_states
        self._connectors = connectors
        self._clock = clock

    def deliver(self, messages: Mapping[str, PushMessage]) -> BatchReport:
        """``messages`` by SQS message id; returns a verdict for each."""
        verdicts = {message_id: MessageVerdict() for message_id in messages}
        by_contact: dict[str, list[str]] = {}
        for message_id, message in messages.items():
            by_contact.setdefault(message.change.contact_id, []).append(message_id)
        destinations = self._destinations.list_enabled()
        keys = [(cid, d.destination_id) for cid in by_contact for d in destinations]
        states = self._push_states.get_many(keys) if keys else {}
        newest = {cid: max(messages[m].change.version for m in ids) for cid, ids in by_contact.items()}
        # A replay that every destination already holds needs no contact read at all.
        needed = [
            cid
            for cid in by_contact
            if any(not _holds(states.get((cid, d.destination_id)), newest[cid]) for d in destinations)
        ]
        contacts = self._contacts.get_many(needed) if needed else {}
        sent = skipped = 0
        saved: list[PushState] = []
        for destination in destinations:
            items: list[OutboundItem] = []
            for contact_id, message_ids in by_contact.items():
                if _holds(states.get((contact_id, destination.destination_id)), newest[contact_id]):
                    skipped += 1
                    continue
                wanted = [
                    messages[m]
                    for m in message_ids
                    if messages[m].destination_id in (None, destination.destination_id)
                    and not _echo(destination, messages[m])
                ]
                if not wanted:
                    continue
                latest = max(wanted, key=lambda message: message.change.version)
                state = states.get((contact_id, destination.destination_id))
                item = outbound_item(
                    destination, latest.change.kind, latest.change.version, contacts.get(contact_id), state
                )
                if item is None or _already_there(item, state):
                    skipped += 1
                    continue
                items.append(item)
            if not items:
                continue
            results = self._send(destination, items)
            sent += len(items)
            now = self._clock()
            for item, result in zip(items, results, strict=True):
                state = states.get((item.contact_id, destination.destination_id))
                saved.extend(self._record(destination, item, result, state, now))
                for message_id in by_contact[item.contact_id]:
                    if result.ok:
                        continue
                    reason = f"{destination.destination_id}: {result.reason or 'failed'}"
                    if result.retryable:
                        verdicts[message_id].retry(reason, result.retry_after_seconds)
                    else:
                        verdicts[message_id].dead(reason)
        if saved:
            self._push_states.save_many(saved)
        return BatchReport(verdicts=verdicts, sent=sent, skipped=skipped)

    def _send(self, destination: Destination, items: list[OutboundItem]) -> list[ItemResult]:
        connector = self._connectors.get(destination.type)
        if connector is None:
            return [
                _failed(item, "no connector for this destination type", retryable=False) for item in items
            ]
        try:
            results = connector.deliver(destination, items)
        except ContactsyncError as error:  # e.g. its credentials are missing: fix and redrive
            return [_failed(item, error.message, retryable=True) for item in items]
        if len(results) != len(items):
            return [_failed(item, "connector answered out of step", retryable=True) for item in items]
        return results

    def _record(
        self,
        destination: Destination,
        item: OutboundItem,
        result: ItemResult,
        state: PushState | None,
        now: datetime,
    ) -> list[PushState]:
        if result.ok and item.erase:
            self._push_states.delete(item.contact_id, destination.destination_id)
            return []
        if result.ok:
            return [
                PushState(
                    contact_id=item.contact_id,
                    destination_id=destination.destination_id,
                    status=SyncStatus.SYNCED,
                    remote_id=result.remote_id or (state.remote_id if state else None),
                    pushed_sha256=item_sha256(item),
                    pushed_version=item.version,
                    pushed_at=now,
                )
            ]
        return [
            PushState(
                contact_id=item.contact_id,
                destination_id=destination.destination_id,
                status=SyncStatus.RETRYING if result.retryable else SyncStatus.FAILED,
                remote_id=state.remote_id if state else None,
                pushed_sha256=state.pushed_sha256 if state else None,
                pushed_version=state.pushed_version if state else 0,
                pushed_at=state.pushed_at if state else None,
                last_error=result.reason,
            )
        ]


def _holds(state: PushState | None, version: int) -> bool:
    """The destination already received this version of the contact, or a newer one."""
    return state is not None and state.status is SyncStatus.SYNCED and state.pushed_version >= version


def _already_there(item: OutboundItem, state: PushState | None) -> bool:
    """A newer or equal version, or the very same content, was delivered before."""
    if state is None or state.status is not SyncStatus.SYNCED:
        return False
    if item.erase:
        return False
    return state.pushed_version >= item.version or state.pushed_sha256 == item_sha256(item)


def _echo(destination: Destination, message: PushMessage) -> bool:
    """A change that came from this very system (two-way sync) is not sent back to it."""
    origin = message.change.origin_source_id
    return origin is not None and origin == destination.linked_source_id and message.destination_id is None


def _failed(item: OutboundItem, reason: str, *, retryable: bool) -> ItemResult:
    return ItemResult(contact_id=item.contact_id, ok=False, retryable=retryable, reason=reason)
