"""OptIn: what the links in a mail do. Viewing never changes anything; only a POST confirms or unsubscribes.

Every refusal looks the same (an invalid-link page), whatever the reason, so a
link never tells whether an address is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.consent_ledger import ConsentEventDraft, ConsentEventType
from contactsync.domain.contact import ConsentBasis, ConsentEvidence, Contact, SubscriptionStatus, utc_now
from contactsync.domain.opt_in_tokens import LinkToken, TokenPurpose, address_digest, token_digest
from contactsync.domain.source import Source
from contactsync.domain.subscription_rules import OptInKind
from contactsync.models.queue_messages import OptInRequest
from contactsync.ports import (
    ChangePublisher,
    ConsentTransactions,
    ContactRepository,
    LinkTokens,
    OptInRequestPublisher,
    SourceRepository,
    SuppressionList,
)

COMMIT_ATTEMPTS = 3


class LinkPage(StrEnum):
    CONFIRM = "confirm"  # the page with the Confirm button
    CONFIRM_CHANGE = "confirm_change"
    CONFIRMED = "confirmed"
    CHANGED = "changed"
    UNSUBSCRIBE = "unsubscribe"
    UNSUBSCRIBED = "unsubscribed"
    INVALID = "invalid"
    RESEND_REQUESTED = "resend_requested"


@dataclass(frozen=True)
class LinkOutcome:
    page: LinkPage
    language: str | None = None  # None: the link does not say; the page follows the browser
    organisation: str | None = None
    redirect_url: str | None = None
    first_name: str | None = None


@dataclass(frozen=True)
class Visitor:
    """Where a click came from, for the consent record."""

    ip: str | None
    user_agent: str | None


@dataclass
class LinkDependencies:
    contacts: ContactRepository
    sources: SourceRepository
    tokens: LinkTokens
    transactions: ConsentTransactions
    changes: ChangePublisher
    opt_ins: OptInRequestPublisher
    suppression: SuppressionList


def allowed_redirect(source: Source | None) -> str | None:
    """The source's thank-you URL, only when its allow-list covers it (no open redirect)."""
    if source is None or source.confirmed_redirect_url is None:
        return None
    url = source.confirmed_redirect_url
    return (
        url
        if any(
            url == allowed or url.startswith(allowed.rstrip("/") + "/")
            for allowed in source.redirect_allow_list
        )
        else None
    )


class SubscriptionLinks:
    def __init__(
        self,
        deps: LinkDependencies,
        default_organisation: str,
        resend_interval: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._deps = deps
        self._organisation = default_organisation
        self._resend_interval = resend_interval
        self._clock = clock

    # ------------------------------------------------------------------ reading
    def _load(
        self, token: str, purpose: TokenPurpose
    ) -> tuple[LinkToken | None, Contact | None, Source | None]:
        link = self._deps.tokens.find(token_digest(token))
        if link is None or link.purpose is not purpose:
            return None, None, None
        contact = self._deps.contacts.get_many([link.contact_id]).get(link.contact_id)
        return link, contact, self._deps.sources.get(link.source_id)

    def _outcome(
        self, page: LinkPage, link: LinkToken | None, source: Source | None, **extra: str | None
    ) -> LinkOutcome:
        organisation = (source.branding.organisation_name if source else None) or self._organisation
        return LinkOutcome(
            page=page, language=link.language if link else None, organisation=organisation, **extra
        )

    def _confirmable(self, link: LinkToken | None, contact: Contact | None, now: datetime) -> bool:
        if link is None or contact is None or not link.usable_at(now):
            return False
        if link.address_digest is not None and link.address_digest != address_digest(contact.identity_key):
            return False  # the contact moved to another address since this mail went out
        if link.pending_fingerprint is not None:
            pending = contact.pending_change
            return pending is not None and pending.profile.fingerprint() == link.pending_fingerprint
        return contact.status in {SubscriptionStatus.PENDING, SubscriptionStatus.NOT_SUBSCRIBED}

    def view_confirmation(self, token: str) -> LinkOutcome:
        """GET: show the Confirm button. A prefetching scanner changes nothing."""
        link, contact, source = self._load(token, TokenPurpose.CONFIRM)
        if not self._confirmable(link, contact, self._clock()):
            return self._outcome(LinkPage.INVALID, link, source)
        is_change = contact is not None and contact.status is SubscriptionStatus.SUBSCRIBED
        page = LinkPage.CONFIRM_CHANGE if is_change else LinkPage.CONFIRM
        profile = contact.pending_change.profile if contact and contact.pending_change else None
        first_name = (profile or contact.profile).first_name if contact else None
        return self._outcome(page, link, source, first_name=first_name)

    def view_unsubscribe(self, token: str) -> LinkOutcome:
        link, _, source = self._load(token, TokenPurpose.UNSUBSCRIBE)
        return self._outcome(LinkPage.UNSUBSCRIBE if link else LinkPage.INVALID, link, source)

    # ------------------------------------------------------------------ acting
    def confirm(self, token: str, visitor: Visitor) -> LinkOutcome:
        """POST: apply the pending subscription or change, record the consent, queue the pushes."""
        for _ in range(COMMIT_ATTEMPTS):
            now = self._clock()
            link, contact, source = self._load(token, TokenPurpose.CONFIRM)
            if not self._confirmable(link, contact, now) or link is None or contact is None:
                return self._outcome(LinkPage.INVALID, link, source)
            was_subscribed = contact.status is SubscriptionStatus.SUBSCRIBED
            pending = contact.pending_change
            profile = pending.profile if pending else contact.profile
            lists = {
                **contact.lists,
                **dict.fromkeys(pending.lists if pending else (), SubscriptionStatus.SUBSCRIBED),
            }
            confirmed = contact.model_copy(
                update={
                    "profile": profile,
                    "status": SubscriptionStatus.SUBSCRIBED,
                    "lists": dict.fromkeys(lists, SubscriptionStatus.SUBSCRIBED),
                    "pending_change": None,
                    "consent": ConsentEvidence(
                        basis=ConsentBasis.EXPRESS, obtained_at=now, method="double opt-in"
                    )
                    if not was_subscribed
                    else contact.consent,
                    "version": contact.version + 1,
                    "updated_at": now,
                }
            )
            event = ConsentEventDraft(
                type=ConsentEventType.CONFIRMED,
                at=now,
                source_id=link.source_id,
                purpose=tuple(confirmed.lists),
                method="confirmation link",
                basis=ConsentBasis.EXPRESS,
                ip=visitor.ip,
                user_agent=visitor.user_agent,
                request_ref=link.request_ref,
            )
            if self._deps.transactions.commit(confirmed, contact.version, event, use_token=link, now=now):
                kind = ChangeKind.UPDATED if was_subscribed else ChangeKind.CONFIRMED
                self._deps.changes.publish(
                    [
                        ContactChange(
                            contact_id=confirmed.contact_id,
                            version=confirmed.version,
                            kind=kind,
                            occurred_at=now,
                        )
                    ]
                )
                page = LinkPage.CHANGED if was_subscribed else LinkPage.CONFIRMED
                return self._outcome(page, link, source, redirect_url=allowed_redirect(source))
        return self._outcome(LinkPage.INVALID, None, None)

    def unsubscribe(self, token: str, visitor: Visitor, one_click: bool) -> LinkOutcome:
        """POST (page button or RFC 8058 one-click): a global, sticky opt-out, at once."""
        for _ in range(COMMIT_ATTEMPTS):
            now = self._clock()
            link, contact, source = self._load(token, TokenPurpose.UNSUBSCRIBE)
            if link is None:
                return self._outcome(LinkPage.INVALID, None, None)
            if contact is None:
                return self._outcome(LinkPage.UNSUBSCRIBED, link, source)  # erased: nothing left to stop
            self._deps.suppression.suppress(contact.identity_key)
            if contact.status is SubscriptionStatus.UNSUBSCRIBED and contact.pending_change is None:
                return self._outcome(LinkPage.UNSUBSCRIBED, link, source)
            withdrawn = contact.withdrawn(now)
            event = ConsentEventDraft(
                type=ConsentEventType.WITHDRAWN,
                at=now,
                source_id=link.source_id,
                purpose=tuple(contact.lists),
                method="one-click (RFC 8058)" if one_click else "unsubscribe link",
                ip=visitor.ip,
                user_agent=visitor.user_agent,
            )
            if self._deps.transactions.commit(withdrawn, contact.version, event, use_token=None, now=now):
                self._deps.changes.publish(
                    [
                        ContactChange(
                            contact_id=withdrawn.contact_id,
                            version=withdrawn.version,
                            kind=ChangeKind.UNSUBSCRIBED,
                            occurred_at=now,
                        )
                    ]
                )
                return self._outcome(LinkPage.UNSUBSCRIBED, link, source)
        return self._outcome(LinkPage.INVALID, None, None)

    def request_new_link(self, token: str, visitor: Visitor) -> LinkOutcome:
        """From the invalid-link page: a new mail if the link was pending; the same answer either way."""
        now = self._clock()
        link, contact, source = self._load(token, TokenPurpose.CONFIRM)
        if link is not None and contact is not None and contact.status is SubscriptionStatus.PENDING:
            last = contact.opt_in_requested_at
            if last is None or now - last >= self._resend_interval:
                stamped = contact.model_copy(
                    update={"opt_in_requested_at": now, "version": contact.version + 1, "updated_at": now}
                )
                if self._deps.contacts.update(stamped, expected_version=contact.version):
                    self._deps.opt_ins.publish(
                        [
                            OptInRequest(
                                contact_id=stamped.contact_id,
                                contact_version=stamped.version,
                                kind=OptInKind.SUBSCRIPTION,
                                source_id=link.source_id,
                                requested_at=now,
                                request_ip=visitor.ip,
                                user_agent=visitor.user_agent,
                            )
                        ]
                    )
        return self._outcome(LinkPage.RESEND_REQUESTED, link, source)
