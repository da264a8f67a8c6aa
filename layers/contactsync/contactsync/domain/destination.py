"""A destination: a system that receives every change to the contacts it concerns."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from contactsync.domain.contact import Contact, SubscriptionStatus


class DestinationType(StrEnum):
    SIGNED_WEBHOOK = "signed_webhook"
    MAILCHIMP = "mailchimp"


class MailchimpSettings(BaseModel):
    """Where the audience lives: ``api_url`` is ``https://<dc>.api.mailchimp.com/3.0`` for Mailchimp."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: HttpUrl
    list_id: str = Field(min_length=1, max_length=100)
    status_if_new: str = Field(default="subscribed", pattern=r"^(subscribed|pending|transactional)$")


DEFAULT_FIELDS: dict[str, str] = {
    "first_name": "FNAME",
    "last_name": "LNAME",
    "phone": "PHONE",
    "birthday": "BIRTHDAY",
    "plan": "PLAN",
    "address": "ADDRESS",
    "language": "LANGUAGE",
}


class Destination(BaseModel):
    """Configuration of one destination; its credentials live in Secrets Manager."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    destination_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    type: DestinationType
    url: HttpUrl | None = Field(default=None, description="signed webhooks: where to POST")
    mailchimp: MailchimpSettings | None = None
    enabled: bool = True
    lists: tuple[str, ...] = Field(
        default=(), description="only contacts on these lists (none: every contact)"
    )
    statuses: tuple[SubscriptionStatus, ...] = Field(
        default=(SubscriptionStatus.SUBSCRIBED,),
        description="which contacts are sent while in these statuses",
    )
    field_mapping: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_FIELDS), description="canonical field -> destination field"
    )
    linked_source_id: str | None = Field(
        default=None,
        description="the same system as this source (two-way sync): its own changes are not sent back",
    )
    max_concurrency: int = Field(default=5, ge=1, le=10)
    requests_per_second: float = Field(default=10.0, gt=0)

    def concerns(self, contact: Contact) -> bool:
        """Whether the contact belongs to this destination's selection (lists and statuses)."""
        on_list = not self.lists or any(name in contact.lists for name in self.lists)
        return on_list and contact.status in self.statuses
