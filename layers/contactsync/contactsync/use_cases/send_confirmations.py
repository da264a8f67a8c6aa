"""Mail: send the confirmation mail of an opt-in request, with fresh links and the consent record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contactsync.domain.consent_ledger import ConsentEventDraft, ConsentEventType
from contactsync.domain.contact import Contact, SubscriptionStatus, utc_now
from contactsync.domain.opt_in_tokens import LinkToken, TokenPurpose, address_digest, new_token, token_digest
from contactsync.domain.source import Branding
from contactsync.domain.subscription_rules import OptInKind
from contactsync.mail_rendering import MailIdentity, render_confirmation
from contactsync.models.queue_messages import OptInRequest
from contactsync.ports import ConsentLedger, ContactRepository, LinkTokens, MailSender, SourceRepository
from contactsync.wording import WORDING_VERSION


@dataclass(frozen=True)
class PublicLinks:
    """Where people's browsers reach the OptIn function."""

    base_url: str

    def confirm(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/v1/confirm/{token}"

    def unsubscribe(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/v1/unsubscribe/{token}"


def request_ref(request: OptInRequest) -> str:
    return f"{request.contact_id}:{request.contact_version}:{request.kind.value}"


def needs_confirmation(contact: Contact, kind: OptInKind) -> bool:
    if contact.profile.email is None:
        return False
    if kind is OptInKind.CHANGE or contact.status is SubscriptionStatus.UNSUBSCRIBED:
        return contact.pending_change is not None
    return contact.status is SubscriptionStatus.PENDING


class SendConfirmation:
    def __init__(
        self,
        contacts: ContactRepository,
        sources: SourceRepository,
        tokens: LinkTokens,
        ledger: ConsentLedger,
        mailer: MailSender,
        links: PublicLinks,
        identity: MailIdentity,
        token_lifetime: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._contacts = contacts
        self._sources = sources
        self._tokens = tokens
        self._ledger = ledger
        self._mailer = mailer
        self._links = links
        self._identity = identity
        self._token_lifetime = token_lifetime
        self._clock = clock

    def execute(self, request: OptInRequest) -> str | None:
        """Send the mail; returns its Message-ID, or None when nothing needs confirming any more."""
        contact = self._contacts.get_many([request.contact_id]).get(request.contact_id)
        if contact is None or not needs_confirmation(contact, request.kind):
            return None
        now = self._clock()
        source = self._sources.get(request.source_id)
        branding = source.branding if source else Branding()
        language = (contact.pending_change.profile if contact.pending_change else contact.profile).language
        confirm_token, unsubscribe_token = new_token(), new_token()
        confirm_link = LinkToken(
            digest=token_digest(confirm_token),
            purpose=TokenPurpose.CONFIRM,
            contact_id=contact.contact_id,
            source_id=request.source_id,
            language=language,
            bound_version=contact.version,
            pending_fingerprint=contact.pending_change.profile.fingerprint()
            if contact.pending_change
            else None,
            request_ref=request_ref(request),
            address_digest=address_digest(contact.identity_key),
            created_at=now,
            expires_at=now + self._token_lifetime,
        )
        self._tokens.issue(confirm_link)
        self._tokens.issue(
            confirm_link.model_copy(
                update={
                    "digest": token_digest(unsubscribe_token),
                    "purpose": TokenPurpose.UNSUBSCRIBE,
                    "pending_fingerprint": None,
                    "expires_at": None,
                }
            )
        )
        unsubscribe_url = self._links.unsubscribe(unsubscribe_token)
        rendered = render_confirmation(
            to_address=contact.profile.email or "",
            first_name=(
                contact.pending_change.profile if contact.pending_change else contact.profile
            ).first_name,
            language=language,
            branding=branding,
            identity=self._identity,
            confirm_url=self._links.confirm(confirm_token),
            unsubscribe_url=unsubscribe_url,
            one_click_url=unsubscribe_url,
            is_change=request.kind is OptInKind.CHANGE,
            expiry_days=max(1, self._token_lifetime.days),
        )
        purpose = tuple(contact.lists) + (contact.pending_change.lists if contact.pending_change else ())
        self._ledger.append(
            contact.contact_id,
            ConsentEventDraft(
                type=ConsentEventType.REQUESTED,
                at=request.requested_at,
                source_id=request.source_id,
                purpose=purpose,
                method="webhook",
                wording_version=WORDING_VERSION,
                wording_sha256=rendered.wording_sha256,
                ip=request.request_ip,
                user_agent=request.user_agent,
                request_ref=request_ref(request),
            ),
        )
        message_id = self._mailer.send(rendered.mail)
        self._ledger.append(
            contact.contact_id,
            ConsentEventDraft(
                type=ConsentEventType.MAIL_SENT,
                at=self._clock(),
                source_id=request.source_id,
                message_id=message_id,
                wording_version=WORDING_VERSION,
                wording_sha256=rendered.wording_sha256,
                request_ref=request_ref(request),
            ),
        )
        return message_id
