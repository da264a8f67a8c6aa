"""What travels to a destination, and what came back: the one small interface of every connector.

A connector (signed webhook, Mailchimp, later Salesforce or HubSpot) gets the
items of a batch for one destination and answers one result per item. It never
raises for an item's failure: a retryable failure comes back with its delay, a
permanent one with its reason, so one bad contact never fails its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from contactsync.domain.change import ChangeKind


class MemberStatus(StrEnum):
    """The subscription state a destination should hold for the contact."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"
    NOT_SUBSCRIBED = "not_subscribed"  # data only: a destination that supports it keeps it as transactional


class OutboundItem(BaseModel):
    """One contact for one destination, already mapped to the destination's fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: str
    version: int = Field(ge=1)
    kind: ChangeKind
    email: str | None = Field(default=None, description="the address the destination should hold now")
    previous_remote_id: str | None = Field(
        default=None,
        description="the destination's id of this contact from the last push (email changes, erasure)",
    )
    status: MemberStatus
    fields: dict[str, Any] = Field(
        default_factory=dict, description="mapped fields (merge fields for Mailchimp)"
    )
    tags: tuple[str, ...] = ()
    erase: bool = Field(default=False, description="delete the contact at the destination (GDPR erasure)")
    document: dict[str, Any] = Field(
        default_factory=dict, description="the whole outbound contact (webhooks)"
    )


class ItemResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: str
    ok: bool
    remote_id: str | None = None
    retryable: bool = False
    reason: str | None = Field(default=None, description="why it failed; never contains personal data")
    retry_after_seconds: float | None = None


class DestinationConnector(Protocol):
    def deliver(self, destination: Any, items: Sequence[OutboundItem]) -> list[ItemResult]:
        """Deliver the items (batched where the destination allows it); one result per item, in order."""
        ...
