"""A source: a system that pushes contacts to contactsync over a webhook."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contactsync.domain.field_mapping import FieldMapping

SOURCE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class ConsentMode(StrEnum):
    DOUBLE_OPT_IN = "double_opt_in"  # the person asked; we send a confirmation link
    CONSENT_ON_FILE = "consent_on_file"  # consent obtained elsewhere; each request carries the evidence
    DATA_ONLY = "data_only"  # store and update data, never subscribe


class AuthMode(StrEnum):
    STANDARD_WEBHOOKS = "standard_webhooks"  # webhook-id / webhook-timestamp / webhook-signature
    BEARER_TOKEN = "bearer_token"  # noqa: S105 - a mode name; for tools that cannot sign (Zapier)


class EventAction(StrEnum):
    """What an event type does to the contact it carries."""

    SUBSCRIBE = "subscribe"  # upsert, asking for consent as the source's consent mode says
    UPDATE = "update"  # upsert the data, subscription untouched
    CHANGE_EMAIL = "change_email"  # move the contact from previous_email to email
    UNSUBSCRIBE = "unsubscribe"  # global, sticky opt-out
    TAG = "tag"  # add the source's tag (e.g. cancelled members)
    IGNORE = "ignore"  # accepted, nothing changes


DEFAULT_EVENT_ACTIONS: dict[str, EventAction] = {
    "member.confirmed": EventAction.SUBSCRIBE,
    "member.updated": EventAction.UPDATE,
    "member.email_changed": EventAction.CHANGE_EMAIL,
    "member.plan_changed": EventAction.UPDATE,
    "member.cancelled": EventAction.TAG,
    "contact.subscribed": EventAction.SUBSCRIBE,
    "contact.updated": EventAction.UPDATE,
    "contact.unsubscribed": EventAction.UNSUBSCRIBE,
}


def hash_token(token: str) -> str:
    """Only this hash of a bearer token is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenHash(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    valid_until: datetime | None = Field(default=None, description="set when rotated: the grace period's end")

    def valid_at(self, now: datetime) -> bool:
        return self.valid_until is None or now < self.valid_until


class Branding(BaseModel):
    """How mails and pages present the organisation (CASL: who sends, and a postal address)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    organisation_name: str | None = Field(default=None, max_length=200)
    from_name: str | None = Field(default=None, max_length=200)
    logo_url: str | None = Field(default=None, pattern=r"^https://", max_length=500)
    postal_address: str | None = Field(default=None, max_length=500)
    consent_text: dict[str, str] = Field(
        default_factory=dict, description="per language: what the person agrees to receive"
    )


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str = Field(pattern=SOURCE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    auth_mode: AuthMode = AuthMode.BEARER_TOKEN
    consent_mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN
    default_language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    default_lists: tuple[str, ...] = ()
    field_mapping: FieldMapping = FieldMapping()
    event_type_path: str = Field(default="type", description="where a payload names its event type")
    event_actions: dict[str, EventAction] = Field(default_factory=lambda: dict(DEFAULT_EVENT_ACTIONS))
    tag_for_tag_action: str = "cancelled"
    newsletter_field_required: bool = Field(
        default=False,
        description="subscribe only contacts whose `newsletter` field is true (e.g. a ticked box)",
    )
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)
    public_form: bool = Field(
        default=False,
        description=(
            "people's browsers post to it directly (its token is in a web page): confirmation mails are "
            "capped per client IP; a server's webhooks all come from its own IP, so they are not"
        ),
    )
    redirect_allow_list: tuple[str, ...] = Field(
        default=(), description="URLs a confirmation may redirect to (exact prefix match)"
    )
    confirmed_redirect_url: str | None = Field(
        default=None, max_length=500, description="thank-you page after confirming, if on the allow-list"
    )
    branding: Branding = Branding()
    token_hashes: tuple[TokenHash, ...] = ()
    created_at: datetime

    def accepts_token(self, token: str, now: datetime) -> bool:
        """Constant-time check of a bearer token against every hash still valid."""
        candidate = hash_token(token)
        matches = [
            hmac.compare_digest(candidate, stored.sha256)
            for stored in self.token_hashes
            if stored.valid_at(now)
        ]
        return any(matches)

    def action_for(self, event_type: str | None) -> EventAction | None:
        """The action of an event type; no type means subscribe; an unknown type is None."""
        if event_type is None:
            return EventAction.SUBSCRIBE
        return self.event_actions.get(event_type)
