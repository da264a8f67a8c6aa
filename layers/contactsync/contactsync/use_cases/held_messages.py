"""Queue, or hold in the outbox: a stored change is never dropped because SQS failed.

A contact is written before its change is queued. If queueing failed and the
request simply failed, the sender's retry would find the contact unchanged and
queue nothing: the change would be lost without a trace. So the publishers the
use cases get are wrapped: what SQS does not take (after botocore's retries) is
written to the outbox in one BatchWriteItem, the request succeeds because the
work is stored and will be delivered, and the Sync tick queues the outbox again
and forgets what went through. The happy path costs nothing more: the outbox is
only written when SQS fails.

If the outbox cannot be written either, ``ServiceUnavailable`` goes up and the
request fails (503 or 429). That double fault is the one case left where the
change of a stored contact is lost: the sender's retry finds the contact
unchanged. It needs SQS failing past botocore's retries and then DynamoDB
failing a BatchWriteItem past its own (5 attempts each); at 25% of attempts
failing at random that is about 1 in 1,000 of the requests whose SQS send failed.
Closing it would take either a marker written with every contact and cleared
after queueing (a write more per contact on the happy path), or undoing the
contact's write, which is a DynamoDB write at the very moment DynamoDB failed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from contactsync.domain.change import ContactChange
from contactsync.domain.contact import utc_now
from contactsync.errors import MessagesNotQueued, ServiceUnavailable
from contactsync.models.queue_messages import HeldMessage, OptInRequest, PushMessage
from contactsync.ports import ChangePublisher, OptInRequestPublisher, Outbox


def _not_queued[T](items: Sequence[T], failure: ServiceUnavailable) -> list[T]:
    """The items a failed publish did not queue: those it names, or all when it cannot say."""
    if isinstance(failure, MessagesNotQueued):
        return [items[index] for index in failure.unsent_indexes]
    return list(items)


class QueueOrHoldChanges:
    """``ChangePublisher`` that holds in the outbox what the queue did not take."""

    def __init__(
        self, queue: ChangePublisher, outbox: Outbox, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._queue = queue
        self._outbox = outbox
        self._clock = clock

    def publish(self, changes: Sequence[ContactChange], destination_id: str | None = None) -> None:
        try:
            self._queue.publish(changes, destination_id)
        except ServiceUnavailable as failure:
            now = self._clock()
            self._outbox.hold(
                [
                    HeldMessage(held_at=now, push=PushMessage(change=change, destination_id=destination_id))
                    for change in _not_queued(changes, failure)
                ]
            )


class QueueOrHoldOptIns:
    """``OptInRequestPublisher`` that holds in the outbox what the queue did not take."""

    def __init__(
        self, queue: OptInRequestPublisher, outbox: Outbox, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._queue = queue
        self._outbox = outbox
        self._clock = clock

    def publish(self, requests: Sequence[OptInRequest]) -> None:
        try:
            self._queue.publish(requests)
        except ServiceUnavailable as failure:
            now = self._clock()
            self._outbox.hold(
                [HeldMessage(held_at=now, opt_in=request) for request in _not_queued(requests, failure)]
            )


@dataclass(frozen=True)
class RelayReport:
    queued: int
    still_held: int


class RelayHeldMessages:
    """The Sync tick's part: queue what the outbox holds, forget what went through.

    It uses the bare queue publishers (never the holding ones), so a message that
    fails again simply stays held for the next tick. A message queued but not yet
    forgotten (the release failed) is queued again next tick: consumers already
    take a change or a mail request twice without effect (version checks, idempotency).
    """

    def __init__(
        self, outbox: Outbox, changes: ChangePublisher, opt_ins: OptInRequestPublisher, batch: int = 500
    ) -> None:
        self._outbox = outbox
        self._changes = changes
        self._opt_ins = opt_ins
        self._batch = batch

    def execute(self) -> RelayReport:
        held = self._outbox.held(self._batch)
        if not held:
            return RelayReport(queued=0, still_held=0)
        queued: list[HeldMessage] = []
        by_destination: dict[str | None, list[HeldMessage]] = {}
        opt_ins: list[HeldMessage] = []
        for message in held:
            if message.push is not None:
                by_destination.setdefault(message.push.destination_id, []).append(message)
            else:
                opt_ins.append(message)
        for destination_id, group in by_destination.items():
            changes = [message.push.change for message in group if message.push is not None]
            queued += self._send(group, functools.partial(self._changes.publish, changes, destination_id))
        if opt_ins:
            requests = [message.opt_in for message in opt_ins if message.opt_in is not None]
            queued += self._send(opt_ins, functools.partial(self._opt_ins.publish, requests))
        if queued:
            self._outbox.release(queued)
        return RelayReport(queued=len(queued), still_held=len(held) - len(queued))

    @staticmethod
    def _send(group: list[HeldMessage], publish: Callable[[], None]) -> list[HeldMessage]:
        """The messages of ``group`` that ``publish`` queued."""
        try:
            publish()
        except ServiceUnavailable as failure:
            not_queued = {message.hold_key for message in _not_queued(group, failure)}
            return [message for message in group if message.hold_key not in not_queued]
        return group
