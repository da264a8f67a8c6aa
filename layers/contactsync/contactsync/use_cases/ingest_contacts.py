"""Ingest: authenticate the source, map and validate each contact, apply the consent rules, store, queue.

Contacts are stored before their changes and confirmation mails are queued.
Every answer keeps two promises:

- a contact reported accepted is stored: when a store call fails past botocore's
  retries (throttling: 429, server fault: 503) the whole request fails, even if
  some contacts were already written;
- a stored change is queued: the changes of the contacts already written are
  queued before the failure is answered, because the sender's retry will find
  them unchanged and queue nothing. Queueing that fails is held in the outbox
  by the publishers wiring gives (``use_cases.held_messages``), so it does not
  fail the request.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from contactsync.domain.candidates import CandidateRejected, build_candidate
from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.consent_ledger import ConsentEventDraft, ConsentEventType
from contactsync.domain.contact import Contact, SubscriptionStatus, identity_key_for, utc_now
from contactsync.domain.identity import email_key
from contactsync.domain.import_jobs import ImportMode
from contactsync.domain.source import AuthMode, ConsentMode, EventAction, Source
from contactsync.domain.subscription_rules import (
    Candidate,
    Decision,
    OptInKind,
    RuleContext,
    decide_existing,
    decide_new,
    merge_profile,
)
from contactsync.errors import (
    AuthenticationFailed,
    FieldProblem,
    RateLimited,
    ServiceUnavailable,
    SourceNotFound,
    WritesInterrupted,
)
from contactsync.models.queue_messages import OptInRequest
from contactsync.ports import (
    ChangePublisher,
    ConsentTransactions,
    ContactRepository,
    OptInRequestPublisher,
    RateLimiter,
    SourceRepository,
    SourceSigningSecrets,
    SuppressionList,
)

SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class InboundRequest:
    """What the use case needs of the HTTP request: credentials, body, and where it came from."""

    source_id: str
    headers: Mapping[str, str]  # lowercased names
    raw_body: str
    client_ip: str | None = None
    user_agent: str | None = None

    def bearer_token(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Effect(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # the import mode said no (add only, update only)
    REJECTED = "rejected"


@dataclass(frozen=True)
class ContactOutcome:
    index: int
    contact_id: str | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    effect: Effect = Effect.UNCHANGED
    created_at: datetime | None = None  # lets an import recount a page it applied before a crash
    created_by: str | None = None

    @property
    def accepted(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class IngestOutcome:
    outcomes: list[ContactOutcome]
    changes: list[ContactChange]
    opt_in_requests: list[OptInRequest]


@dataclass(frozen=True)
class OptInLimits:
    """How often confirmation mails may go out: per address (resend) and per client IP (anti mail-bomb)."""

    resend_interval: timedelta = timedelta(hours=24)
    per_ip_per_hour: int = 20


@dataclass
class IngestDependencies:
    sources: SourceRepository
    contacts: ContactRepository
    changes: ChangePublisher
    opt_ins: OptInRequestPublisher
    suppression: SuppressionList
    rate_limiter: RateLimiter
    signing_secrets: SourceSigningSecrets
    consent: ConsentTransactions  # an unsubscribe request is stored with its withdrawal event


@dataclass(frozen=True)
class CheckedPayloads:
    """Payloads mapped and validated against a source: pure work, so it can be done ahead (imports)."""

    count: int
    candidates: dict[int, Candidate]
    rejected: dict[int, list[FieldProblem]]


def check_payloads(
    source: Source,
    payloads: Sequence[Mapping[str, Any]],
    now: datetime,
    consent_defaults: Mapping[str, str] | None = None,
) -> CheckedPayloads:
    """Map and validate each payload with the source's mapping; no store. ``now`` bounds consent dates."""
    candidates: dict[int, Candidate] = {}
    rejected: dict[int, list[FieldProblem]] = {}
    for index, payload in enumerate(payloads):
        try:
            candidates[index] = build_candidate(payload, source, now, consent_defaults)
        except CandidateRejected as rejection:
            rejected[index] = rejection.problems
    return CheckedPayloads(count=len(payloads), candidates=candidates, rejected=rejected)


class IngestContacts:
    def __init__(
        self,
        deps: IngestDependencies,
        limits: OptInLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._deps = deps
        self._limits = limits or OptInLimits()
        self._clock = clock
        self._new_id = new_id

    # ------------------------------------------------------------------ who is sending
    def authenticate(self, request: InboundRequest) -> Source:
        """The enabled source this request proves to come from.

        Unknown and disabled sources look alike (404); every credential failure
        looks alike (401), so a caller learns nothing about which part was wrong.
        """
        now = self._clock()
        cached = self._deps.sources.get(request.source_id)
        try:
            source = self._admit(cached, request, now)
        except (SourceNotFound, AuthenticationFailed):
            stored = self._deps.sources.get(request.source_id, fresh=True)  # never refuse on a cached copy
            if stored == cached:
                raise
            source = self._admit(stored, request, now)
        if not self._deps.rate_limiter.allow(f"source:{source.source_id}", source.rate_limit_per_minute, now):
            raise RateLimited
        return source

    def _signature_valid(self, source: Source, request: InboundRequest, now: datetime) -> bool:
        headers = {
            name: request.headers.get(name, "")
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        if not all(headers.values()):
            return False
        cached = self._deps.signing_secrets.secrets_for(source.source_id, now)
        if _verified(cached, request.raw_body, headers):
            return True
        # A source added or rotated since this container read its secrets: never refuse on a cached copy.
        stored = self._deps.signing_secrets.secrets_for(source.source_id, now, fresh=True)
        return stored != cached and _verified(stored, request.raw_body, headers)

    # ------------------------------------------------------------------ what it sends
    def execute(
        self,
        source: Source,
        payloads: Sequence[Mapping[str, Any]],
        request: InboundRequest,
        mode: ImportMode = ImportMode.ADD_AND_UPDATE,
    ) -> IngestOutcome:
        """Check and apply every payload."""
        return self.apply(source, check_payloads(source, payloads, self._clock()), request, mode)

    def apply(
        self,
        source: Source,
        checked: CheckedPayloads,
        request: InboundRequest,
        mode: ImportMode = ImportMode.ADD_AND_UPDATE,
    ) -> IngestOutcome:
        """Apply checked payloads: batched reads and transactional writes first, one by one where needed."""
        now = self._clock()
        ctx = RuleContext(source=source, now=now, resend_interval=self._limits.resend_interval, mode=mode)
        candidates = checked.candidates
        results: dict[int, tuple[Contact | None, Decision]] = {
            index: (None, Decision(problems=problems)) for index, problems in checked.rejected.items()
        }
        try:
            one_by_one = self._apply_in_bulk(candidates, ctx, request, results)
            for index in one_by_one:
                results[index] = self._apply(candidates[index], ctx, request)
        except ServiceUnavailable as failure:
            # Some contacts may be stored already: queue their changes now, then fail the request
            # with the store's own failure (429 or 503). Should queueing fail too, that is the
            # double fault the module docstring of ``use_cases.held_messages`` describes.
            with contextlib.suppress(ServiceUnavailable):
                self._finish(source, request, now, [results[index] for index in sorted(results)])
            raise failure
        return self._finish(source, request, now, [results[index] for index in range(checked.count)])

    def _apply_in_bulk(
        self,
        candidates: dict[int, Candidate],
        ctx: RuleContext,
        request: InboundRequest,
        results: dict[int, tuple[Contact | None, Decision]],
    ) -> list[int]:
        """Decide and write the simple cases in batches; return the indexes left for the one-by-one path.

        Left over: email changes, a second request for an address already in this
        batch, and writes that lost a race (their transaction was cancelled).
        Unsubscribes go one by one here too: each is stored with its ledger event.
        """
        bulk: dict[int, str] = {}
        left: list[int] = []
        seen: set[str] = set()
        for index, candidate in candidates.items():
            identity = identity_key_for(candidate.profile)
            if candidate.action is EventAction.CHANGE_EMAIL or identity in seen:
                left.append(index)
            else:
                bulk[index] = identity
                seen.add(identity)
        existing = self._deps.contacts.find_many_by_identity(list(bulk.values()))
        suppressed = self._deps.suppression.suppressed_among(
            [key for key in bulk.values() if key not in existing]
        )
        creates: list[tuple[int, Contact, Decision]] = []
        updates: list[tuple[int, Contact, Decision, int]] = []
        withdrawals: list[tuple[int, Contact, Decision, int]] = []
        for index, identity in bulk.items():
            current = existing.get(identity)
            if current is None:
                decision = decide_new(
                    candidates[index], ctx, self._new_id(), identity, identity in suppressed
                )
            else:
                decision = decide_existing(current, candidates[index], ctx)
            if decision.contact is None:
                results[index] = (current, decision)
            elif current is None:
                creates.append((index, decision.contact, decision))
            elif decision.change_kind is ChangeKind.UNSUBSCRIBED:
                withdrawals.append((index, decision.contact, decision, current.version))
            else:
                updates.append((index, decision.contact, decision, current.version))
        try:
            not_created = {c.contact_id for c in self._deps.contacts.create_many([c for _, c, _ in creates])}
        except WritesInterrupted as interrupted:
            self._record_written(
                interrupted, [(index, contact, decision) for index, contact, decision in creates], results
            )
        for index, contact, decision in creates:
            if contact.contact_id in not_created:
                left.append(index)
            else:
                results[index] = (contact, decision)
        try:
            not_updated = {
                c.contact_id for c in self._deps.contacts.update_many([(c, v) for _, c, _, v in updates])
            }
        except WritesInterrupted as interrupted:
            self._record_written(
                interrupted, [(index, contact, decision) for index, contact, decision, _ in updates], results
            )
        for index, contact, decision, _ in updates:
            if contact.contact_id in not_updated:
                left.append(index)
            else:
                results[index] = (contact, decision)
        for index, contact, decision, version in withdrawals:
            if self._withdraw(contact, version, ctx, request):
                results[index] = (contact, decision)
            else:
                left.append(index)
        return sorted(left)

    def _withdraw(
        self, contact: Contact, expected_version: int, ctx: RuleContext, request: InboundRequest
    ) -> bool:
        """Store an opt-out the source sent, as the unsubscribe link does: suppressed, with its proof."""
        self._deps.suppression.suppress(contact.identity_key)
        event = ConsentEventDraft(
            type=ConsentEventType.WITHDRAWN,
            at=ctx.now,
            source_id=ctx.source.source_id,
            purpose=tuple(contact.lists),
            method="unsubscribe request from the source",
            ip=request.client_ip,
            user_agent=request.user_agent,
        )
        return self._deps.consent.commit(contact, expected_version, event, use_token=None, now=ctx.now)

    @staticmethod
    def _record_written(
        interrupted: WritesInterrupted,
        attempted: list[tuple[int, Contact, Decision]],
        results: dict[int, tuple[Contact | None, Decision]],
    ) -> None:
        """Keep the results of what a failed batch write did store, then let the failure go on."""
        written = {contact.contact_id for contact in interrupted.written}
        for index, contact, decision in attempted:
            if contact.contact_id in written:
                results[index] = (contact, decision)
        raise interrupted.cause from interrupted

    def _finish(
        self,
        source: Source,
        request: InboundRequest,
        now: datetime,
        applied: list[tuple[Contact | None, Decision]],
    ) -> IngestOutcome:
        """Turn decisions into outcomes, and queue the changes and confirmation mails in batches."""
        outcomes: list[ContactOutcome] = []
        changes: list[ContactChange] = []
        opt_ins: list[OptInRequest] = []
        for index, (contact, decision) in enumerate(applied):
            if decision.problems:
                outcomes.append(
                    ContactOutcome(index=index, problems=decision.problems, effect=Effect.REJECTED)
                )
                continue
            effect = (
                Effect.SKIPPED
                if decision.skipped
                else Effect.CREATED
                if decision.change_kind is ChangeKind.CREATED
                else Effect.UPDATED
                if decision.contact is not None and decision.change_kind is not None
                else Effect.UNCHANGED
            )
            outcomes.append(
                ContactOutcome(
                    index=index,
                    contact_id=contact.contact_id if contact else None,
                    effect=effect,
                    created_at=contact.created_at if contact else None,
                    created_by=contact.source_id if contact else None,
                )
            )
            if contact is None:
                continue
            if decision.change_kind is not None:
                changes.append(
                    ContactChange(
                        contact_id=contact.contact_id,
                        version=contact.version,
                        kind=decision.change_kind,
                        occurred_at=now,
                        origin_source_id=source.source_id,
                    )
                )
            if decision.opt_in is not None and self._may_mail_from(source, request.client_ip, now):
                opt_ins.append(
                    OptInRequest(
                        contact_id=contact.contact_id,
                        contact_version=contact.version,
                        kind=decision.opt_in,
                        source_id=source.source_id,
                        requested_at=now,
                        request_ip=request.client_ip,
                        user_agent=request.user_agent,
                    )
                )
        failures: list[ServiceUnavailable] = []
        if changes:
            try:
                self._deps.changes.publish(changes)
            except ServiceUnavailable as failure:  # the confirmation mails are still worth queueing
                failures.append(failure)
        if opt_ins:
            try:
                self._deps.opt_ins.publish(opt_ins)
            except ServiceUnavailable as failure:
                failures.append(failure)
        if failures:
            raise failures[0]
        return IngestOutcome(outcomes=outcomes, changes=changes, opt_in_requests=opt_ins)

    def _admit(self, source: Source | None, request: InboundRequest, now: datetime) -> Source:
        """The source if it is enabled and the request proves to come from it."""
        if source is None or not source.enabled:
            raise SourceNotFound
        if source.auth_mode is AuthMode.BEARER_TOKEN:
            token = request.bearer_token()
            if token is None or not source.accepts_token(token, now):
                raise AuthenticationFailed
        elif not self._signature_valid(source, request, now):
            raise AuthenticationFailed
        return source

    def _may_mail_from(self, source: Source, client_ip: str | None, now: datetime) -> bool:
        """At most N confirmation mails per hour per client IP of a public form: it cannot mail-bomb.

        Only for public forms: a server's webhooks (a shop, Zapier) all come from its own
        address, and one mail a day per address and the source's rate limit hold for them.
        """
        if client_ip is None or not source.public_form:
            return True
        try:
            return self._deps.rate_limiter.allow(
                f"opt-in-ip:{client_ip}", self._limits.per_ip_per_hour, now, 3600
            )
        except ServiceUnavailable:
            # The contact is stored and marked as asked; refusing now would leave it without its
            # mail for a whole resend interval. The per-address limit still holds (one a day).
            return True

    def _apply(
        self, candidate: Candidate, ctx: RuleContext, request: InboundRequest
    ) -> tuple[Contact | None, Decision]:
        """Decide and store, retrying when another request changed the contact meanwhile."""
        identity = identity_key_for(candidate.profile)
        for _ in range(SAVE_ATTEMPTS):
            if candidate.action is EventAction.CHANGE_EMAIL and candidate.previous_email:
                moved = self._move_identity(candidate, identity, ctx)
                if moved is not None:
                    return moved
            existing = self._deps.contacts.find_by_identity(identity)
            if existing is None:
                suppressed = self._deps.suppression.is_suppressed(identity)
                decision = decide_new(candidate, ctx, self._new_id(), identity, suppressed)
                if decision.contact is None or self._deps.contacts.create(decision.contact):
                    return decision.contact, decision
                continue  # another request claimed the identity meanwhile: read it and merge
            decision = decide_existing(existing, candidate, ctx)
            if decision.contact is None:
                return existing, decision
            if decision.change_kind is ChangeKind.UNSUBSCRIBED:
                stored = self._withdraw(decision.contact, existing.version, ctx, request)
            else:
                stored = self._deps.contacts.update(decision.contact, expected_version=existing.version)
            if stored:
                return decision.contact, decision
        raise ServiceUnavailable("the contact is being changed by other requests")

    def _move_identity(
        self, candidate: Candidate, new_identity: str, ctx: RuleContext
    ) -> tuple[Contact | None, Decision] | None:
        """Email change: one contact moves to the new address; None when there is nothing to move."""
        previous_identity = f"EMAIL#{email_key(candidate.previous_email or '')}"
        if previous_identity == new_identity:
            return None
        current = self._deps.contacts.find_by_identity(previous_identity)
        if current is None:
            return None
        holder = self._deps.contacts.find_by_identity(new_identity)
        if holder is not None and holder.contact_id != current.contact_id:
            return None, Decision(problems=[FieldProblem("email", "this address belongs to another contact")])
        if current.status is SubscriptionStatus.UNSUBSCRIBED:
            # The old address opted out: it stays suppressed once no contact holds it any more.
            self._deps.suppression.suppress(previous_identity)
        profile = merge_profile(current.profile, candidate)
        moved = current.model_copy(
            update={
                "identity_key": new_identity,
                "profile": profile,
                "version": current.version + 1,
                "updated_at": ctx.now,
            }
        )
        if self._deps.suppression.is_suppressed(new_identity):
            # The new address opted out before (or was erased): the contact moves onto it opted out.
            moved = _everywhere(moved, SubscriptionStatus.UNSUBSCRIBED)
        opt_in = None
        confirming = {SubscriptionStatus.PENDING, SubscriptionStatus.SUBSCRIBED}
        if ctx.source.consent_mode is ConsentMode.DOUBLE_OPT_IN and moved.status in confirming:
            # Consent belongs to an address: the new one confirms for itself (a form cannot prove it
            # holds the old one), and the links mailed to the old one no longer work (bound to it).
            opt_in = OptInKind.SUBSCRIPTION
            moved = _everywhere(moved, SubscriptionStatus.PENDING, opt_in_requested_at=ctx.now)
        if not self._deps.contacts.move_identity(moved, previous_identity, expected_version=current.version):
            raise _Conflict
        return moved, Decision(contact=moved, change_kind=ChangeKind.EMAIL_CHANGED, opt_in=opt_in)


def _everywhere(contact: Contact, status: SubscriptionStatus, **updates: object) -> Contact:
    """The contact with one status for itself and each of its lists, and no pending change."""
    return contact.model_copy(
        update={
            "status": status,
            "lists": dict.fromkeys(contact.lists, status),
            "pending_change": None,
            **updates,
        }
    )


def _verified(secrets: Sequence[str], body: str, headers: dict[str, str]) -> bool:
    """Whether one of the secrets signed the request (5-minute tolerance, constant-time compare)."""
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError, TypeError):
            continue
        return True
    return False


class _Conflict(ServiceUnavailable):
    """The contact changed between read and write; the sender should retry."""
