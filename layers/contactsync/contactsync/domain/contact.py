"""The canonical contact, independent of any source's or destination's shape."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contactsync.domain.identity import email_key


def utc_now() -> datetime:
    return datetime.now(UTC)


class SubscriptionStatus(StrEnum):
    """Where a contact stands with marketing mail (Mailchimp-like vocabulary)."""

    PENDING = "pending"  # asked, confirmation mail not yet answered
    SUBSCRIBED = "subscribed"  # consent on record
    NOT_SUBSCRIBED = "not_subscribed"  # data only: never mailed
    UNSUBSCRIBED = "unsubscribed"  # opted out: sticky


class ConsentBasis(StrEnum):
    EXPRESS = "express"
    IMPLIED = "implied"


class ConsentEvidence(BaseModel):
    """Consent obtained elsewhere, as a ``consent_on_file`` source must prove it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: ConsentBasis
    obtained_at: datetime
    method: str = Field(min_length=1, max_length=200, description="how: form, purchase, paper, event ...")
    expires_at: datetime | None = Field(default=None, description="implied consent lapses (CASL)")


class PostalAddress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    street: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=120)
    region: str | None = Field(default=None, max_length=120)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=60)


class ContactProfile(BaseModel):
    """The personal data a contact carries; everything a destination may receive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str | None = None
    phone: str | None = None
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    address: PostalAddress | None = None
    birthday: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    plan: str | None = Field(default=None, max_length=200)
    tags: tuple[str, ...] = ()
    custom_attributes: dict[str, str] = Field(default_factory=dict)

    def fingerprint(self) -> str:
        """A stable hash of the content, to tell a real change from a repeat."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class PendingChange(BaseModel):
    """Changes to a subscribed contact that wait for the owner of the address to confirm."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: ContactProfile
    lists: tuple[str, ...] = ()
    source_id: str
    requested_at: datetime


class Contact(BaseModel):
    """A contact as the product knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: str
    identity_key: str = Field(description="EMAIL#<key> or PHONE#<e164>: what makes the contact unique")
    profile: ContactProfile
    status: SubscriptionStatus
    lists: dict[str, SubscriptionStatus] = Field(default_factory=dict)
    consent: ConsentEvidence | None = None
    pending_change: PendingChange | None = None
    opt_in_requested_at: datetime | None = None
    source_id: str
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime

    def with_profile(self, profile: ContactProfile, at: datetime) -> Contact:
        """The same contact with new data, one version later."""
        return self.model_copy(update={"profile": profile, "version": self.version + 1, "updated_at": at})

    def withdrawn(self, at: datetime) -> Contact:
        """Opted out everywhere, pending changes dropped, one version later."""
        return self.moved_to(SubscriptionStatus.UNSUBSCRIBED, at).model_copy(update={"pending_change": None})

    def moved_to(self, status: SubscriptionStatus, at: datetime) -> Contact:
        """The contact and every list membership in ``status``, one version later."""
        return self.model_copy(
            update={
                "status": status,
                "lists": dict.fromkeys(self.lists, status),
                "version": self.version + 1,
                "updated_at": at,
            }
        )


def identity_key_for(profile: ContactProfile) -> str:
    """``EMAIL#...`` when the profile has an email, else ``PHONE#...``."""
    if profile.email:
        return f"EMAIL#{email_key(profile.email)}"
    if profile.phone:
        return f"PHONE#{profile.phone}"
    raise ValueError("a contact needs an email or a phone")
