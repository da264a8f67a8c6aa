"""A change to a contact, the unit that travels to destinations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    EMAIL_CHANGED = "email_changed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    ERASED = "erased"
    CONSENT_LAPSED = "consent_lapsed"


class ContactChange(BaseModel):
    """Contact ``contact_id`` reached ``version`` through ``kind``.

    Destinations receive the contact as it is when the change is delivered; the
    version lets them (and us) refuse to overwrite newer data with older data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    kind: ChangeKind
    occurred_at: datetime
    origin_source_id: str | None = Field(
        default=None, description="the source the change came from: never pushed back there (no echo loops)"
    )
