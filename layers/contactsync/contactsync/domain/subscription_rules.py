"""The consent rules: what a request does to a contact, as a pure decision.

- A new contact from a double opt-in source is pending and gets a confirmation mail.
- Changes to a subscribed contact from a double opt-in source wait as a pending
  change until the owner of the address confirms; so does a new subscribe request
  for an opted-out contact. Other requests about an opted-out contact update its
  data and mail nobody.
- A consent-on-file source must carry the evidence; it subscribes at once, unless
  the evidence is implied consent that has already run out.
- A confirmed contact is never downgraded by a request; only an explicit
  unsubscribe event opts it out. An opted-out or erased address is never
  re-subscribed here; only a new confirmed opt-in does that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from contactsync.domain.change import ChangeKind
from contactsync.domain.contact import (
    ConsentBasis,
    ConsentEvidence,
    Contact,
    ContactProfile,
    PendingChange,
    SubscriptionStatus,
)
from contactsync.domain.import_jobs import ImportMode
from contactsync.domain.source import ConsentMode, EventAction, Source
from contactsync.errors import FieldProblem

# CASL: implied consent lasts 2 years after a purchase, 6 months after an inquiry (any method naming one).
IMPLIED_CONSENT_PERIODS = {
    "inquiry": timedelta(days=183),
    "enquiry": timedelta(days=183),
    "demande": timedelta(days=183),
}
DEFAULT_IMPLIED_PERIOD = timedelta(days=730)
# What one contact may hold: its item (with a pending change) stays far below DynamoDB's 400 KB, and
# 50 of them below a transaction's 4 MB, whatever sources send over the years.
MAX_TAGS = 100
MAX_CUSTOM_ATTRIBUTES = 100
MAX_PROFILE_BYTES = 32_000


class OptInKind(StrEnum):
    SUBSCRIPTION = "subscription"  # confirm a new subscription
    CHANGE = "change"  # confirm changes to a subscribed contact


@dataclass(frozen=True)
class Candidate:
    """A validated request about one contact, before the rules apply."""

    action: EventAction
    profile: ContactProfile
    sent_fields: frozenset[str]
    lists: tuple[str, ...] = ()
    consent: ConsentEvidence | None = None
    previous_email: str | None = None
    newsletter: bool | None = None


@dataclass(frozen=True)
class Decision:
    """What to store (None: nothing), what to push, whether to mail a confirmation, or why not."""

    contact: Contact | None = None
    change_kind: ChangeKind | None = None
    opt_in: OptInKind | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    skipped: bool = False  # an import mode (add only, update only) left it alone


@dataclass(frozen=True)
class RuleContext:
    source: Source
    now: datetime
    resend_interval: timedelta
    mode: ImportMode = ImportMode.ADD_AND_UPDATE


def with_consent_expiry(evidence: ConsentEvidence) -> ConsentEvidence:
    """Implied consent expires within its CASL period: a source may give an earlier end, never a later one."""
    if evidence.basis is ConsentBasis.EXPRESS:
        return evidence
    method = evidence.method.lower()
    period = next(
        (period for word, period in IMPLIED_CONSENT_PERIODS.items() if word in method), DEFAULT_IMPLIED_PERIOD
    )
    latest = evidence.obtained_at + period
    expires_at = latest if evidence.expires_at is None else min(evidence.expires_at, latest)
    return evidence.model_copy(update={"expires_at": expires_at})


def _oversized(profile: ContactProfile) -> FieldProblem | None:
    """Tags and custom attributes add up across requests; a contact must still fit one DynamoDB item."""
    if len(profile.tags) > MAX_TAGS:
        return FieldProblem("tags", f"a contact holds at most {MAX_TAGS} tags")
    if len(profile.custom_attributes) > MAX_CUSTOM_ATTRIBUTES:
        return FieldProblem(
            "custom_attributes", f"a contact holds at most {MAX_CUSTOM_ATTRIBUTES} custom fields"
        )
    if len(profile.model_dump_json()) > MAX_PROFILE_BYTES:
        return FieldProblem(
            "custom_attributes", f"a contact's data must stay under {MAX_PROFILE_BYTES // 1000} KB"
        )
    return None


def merge_profile(current: ContactProfile, candidate: Candidate) -> ContactProfile:
    """Fields the request carries replace stored ones; tags and custom attributes accumulate."""
    updates = {name: getattr(candidate.profile, name) for name in candidate.sent_fields}
    updates["tags"] = tuple(dict.fromkeys((*current.tags, *candidate.profile.tags)))
    updates["custom_attributes"] = {**current.custom_attributes, **candidate.profile.custom_attributes}
    return current.model_copy(update=updates)


def _subscribing_status(
    candidate: Candidate, ctx: RuleContext
) -> tuple[SubscriptionStatus, list[FieldProblem]]:
    """The status a subscribe request leads to for a contact not yet subscribed."""
    source = ctx.source
    if source.consent_mode is ConsentMode.DATA_ONLY:
        return SubscriptionStatus.NOT_SUBSCRIBED, []
    if source.newsletter_field_required and candidate.newsletter is not True:
        return SubscriptionStatus.NOT_SUBSCRIBED, []
    if source.consent_mode is ConsentMode.CONSENT_ON_FILE:
        if candidate.consent is None:
            return SubscriptionStatus.NOT_SUBSCRIBED, [
                FieldProblem(
                    "consent",
                    "this source has consent on file: send consent_basis, "
                    "consent_obtained_at and consent_method",
                )
            ]
        expires_at = with_consent_expiry(candidate.consent).expires_at
        if expires_at is not None and expires_at <= ctx.now:
            return SubscriptionStatus.NOT_SUBSCRIBED, []  # implied consent that has run out is none
        return SubscriptionStatus.SUBSCRIBED, []
    return SubscriptionStatus.PENDING, []


def decide_new(
    candidate: Candidate, ctx: RuleContext, contact_id: str, identity_key: str, suppressed: bool
) -> Decision:
    """A request about an address we do not hold."""
    if candidate.action is EventAction.IGNORE:
        return Decision()
    if ctx.mode is ImportMode.UPDATE_ONLY:
        return Decision(skipped=True)
    status: SubscriptionStatus = SubscriptionStatus.NOT_SUBSCRIBED
    problems: list[FieldProblem] = []
    if candidate.action is EventAction.SUBSCRIBE:
        status, problems = _subscribing_status(candidate, ctx)
    if candidate.action is EventAction.UNSUBSCRIBE or suppressed:
        status, problems = SubscriptionStatus.UNSUBSCRIBED, []
    if problems:
        return Decision(problems=problems)
    profile = candidate.profile
    if candidate.action is EventAction.TAG:
        profile = profile.model_copy(update={"tags": (*profile.tags, ctx.source.tag_for_tag_action)})
    oversized = _oversized(profile)
    if oversized is not None:
        return Decision(problems=[oversized])
    lists = tuple(dict.fromkeys((*ctx.source.default_lists, *candidate.lists)))
    opt_in = OptInKind.SUBSCRIPTION if status is SubscriptionStatus.PENDING else None
    contact = Contact(
        contact_id=contact_id,
        identity_key=identity_key,
        profile=profile,
        status=status,
        lists=dict.fromkeys(lists, status),
        consent=with_consent_expiry(candidate.consent)
        if candidate.consent and status is SubscriptionStatus.SUBSCRIBED
        else None,
        opt_in_requested_at=ctx.now if opt_in else None,
        source_id=ctx.source.source_id,
        version=1,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    return Decision(contact=contact, change_kind=ChangeKind.CREATED, opt_in=opt_in)


def decide_existing(existing: Contact, candidate: Candidate, ctx: RuleContext) -> Decision:
    """A request about a contact we hold."""
    action = candidate.action
    if action is EventAction.IGNORE:
        return Decision()
    if ctx.mode is ImportMode.ADD_ONLY:
        return Decision(skipped=True)
    if action is EventAction.UNSUBSCRIBE:
        if existing.status is SubscriptionStatus.UNSUBSCRIBED:
            return Decision()
        return Decision(contact=existing.withdrawn(ctx.now), change_kind=ChangeKind.UNSUBSCRIBED)
    merged = merge_profile(existing.profile, candidate)
    if action is EventAction.TAG:
        merged = merged.model_copy(
            update={"tags": tuple(dict.fromkeys((*merged.tags, ctx.source.tag_for_tag_action)))}
        )
    oversized = _oversized(merged) if merged != existing.profile else None
    if oversized is not None:
        return Decision(problems=[oversized])
    new_lists = tuple(
        name for name in (*ctx.source.default_lists, *candidate.lists) if name not in existing.lists
    )
    double_opt_in = ctx.source.consent_mode is ConsentMode.DOUBLE_OPT_IN

    if existing.status is SubscriptionStatus.UNSUBSCRIBED and action is not EventAction.SUBSCRIBE:
        # A request for consent is itself a commercial message (CASL): someone who opted out is
        # only asked again when a request says they want to subscribe. Their data stays current.
        return _apply(existing, merged, dict.fromkeys(new_lists, existing.status), ctx)

    if existing.status is SubscriptionStatus.UNSUBSCRIBED and double_opt_in:
        # Signing up again (the only request that gets here): a new confirmed opt-in is the one way
        # back, and at most one request for it goes out per resend interval.
        if not _may_resend(existing, ctx):
            return Decision()
        pending = PendingChange(
            profile=merged, lists=new_lists, source_id=ctx.source.source_id, requested_at=ctx.now
        )
        return Decision(
            contact=_bump(existing, ctx, pending_change=pending, opt_in_requested_at=ctx.now),
            opt_in=OptInKind.SUBSCRIPTION,
        )

    if existing.status is SubscriptionStatus.SUBSCRIBED and double_opt_in:
        if merged == existing.profile and not new_lists:
            return Decision()
        if (
            action is EventAction.TAG
            and merged.model_copy(update={"tags": existing.profile.tags}) == existing.profile
        ):
            return _apply(existing, merged, {}, ctx)  # a tag is not personal data: no confirmation needed
        pending = PendingChange(
            profile=merged, lists=new_lists, source_id=ctx.source.source_id, requested_at=ctx.now
        )
        if existing.pending_change is not None and existing.pending_change.profile == merged:
            return Decision()
        return Decision(
            contact=_bump(existing, ctx, pending_change=pending, opt_in_requested_at=ctx.now),
            opt_in=OptInKind.CHANGE,
        )

    if action is EventAction.SUBSCRIBE and existing.status in {
        SubscriptionStatus.PENDING,
        SubscriptionStatus.NOT_SUBSCRIBED,
    }:
        status, problems = _subscribing_status(candidate, ctx)
        if problems:
            return Decision(problems=problems)
        if status is SubscriptionStatus.NOT_SUBSCRIBED:
            status = existing.status  # a data-only request never downgrades pending
        lists = {**existing.lists, **dict.fromkeys(new_lists, status)}
        if status is SubscriptionStatus.SUBSCRIBED:
            lists = dict.fromkeys(lists, SubscriptionStatus.SUBSCRIBED)
        consent = with_consent_expiry(candidate.consent) if candidate.consent else existing.consent
        # Only a double opt-in sign-up asks again: data-only requests and imports never mail (CASL).
        resend = double_opt_in and status is SubscriptionStatus.PENDING and _may_resend(existing, ctx)
        if (
            merged == existing.profile
            and status is existing.status
            and lists == existing.lists
            and not resend
        ):
            return Decision()
        changed = _bump(
            existing,
            ctx,
            profile=merged,
            status=status,
            lists=lists,
            consent=consent if status is SubscriptionStatus.SUBSCRIBED else existing.consent,
            opt_in_requested_at=ctx.now if resend else existing.opt_in_requested_at,
        )
        visible = merged != existing.profile or status is not existing.status or lists != existing.lists
        return Decision(
            contact=changed,
            change_kind=ChangeKind.UPDATED if visible else None,
            opt_in=OptInKind.SUBSCRIPTION if resend else None,
        )

    return _apply(existing, merged, dict.fromkeys(new_lists, existing.status), ctx)


def _apply(
    existing: Contact, merged: ContactProfile, added_lists: dict[str, SubscriptionStatus], ctx: RuleContext
) -> Decision:
    """Apply data at once, status untouched."""
    if merged == existing.profile and not added_lists:
        return Decision()
    return Decision(
        contact=_bump(existing, ctx, profile=merged, lists={**existing.lists, **added_lists}),
        change_kind=ChangeKind.UPDATED,
    )


def _may_resend(existing: Contact, ctx: RuleContext) -> bool:
    last = existing.opt_in_requested_at
    return last is None or ctx.now - last >= ctx.resend_interval


def _bump(existing: Contact, ctx: RuleContext, **updates: object) -> Contact:
    return existing.model_copy(update={**updates, "version": existing.version + 1, "updated_at": ctx.now})
