"""What a destination receives: the outbound shape, mapped explicitly from the domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from contactsync.domain.contact import Contact


class WebhookContact(BaseModel):
    """The contact as a signed webhook carries it (``data`` of the delivery)."""

    id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    language: str
    status: str
    custom_attributes: dict[str, str]
    version: int
    updated_at: datetime

    @classmethod
    def from_contact(cls, contact: Contact) -> WebhookContact:
        profile = contact.profile
        return cls(
            id=contact.contact_id,
            email=profile.email,
            phone=profile.phone,
            first_name=profile.first_name,
            last_name=profile.last_name,
            language=profile.language,
            status=contact.status.value,
            custom_attributes=dict(profile.custom_attributes),
            version=contact.version,
            updated_at=contact.updated_at,
        )
