"""Link tokens: 256 random bits in the mail, only their SHA-256 stored, single use, expiring."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

TOKEN_BYTES = 32  # 256 bits; the issue asks for at least 128
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{20,128}$"  # noqa: S105 - a shape, not a secret


class TokenPurpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def address_digest(identity_key: str) -> str:
    """What a link remembers of the address its mail went to: a hash, so the token item holds no address."""
    return token_digest(identity_key)  # the same SHA-256 hex digest


class LinkToken(BaseModel):
    """A stored token: what it may do, for whom, until when. Never the token itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    purpose: TokenPurpose
    contact_id: str
    source_id: str
    language: str = "en"
    bound_version: int = Field(ge=1, description="the contact version whose pending state it confirms")
    pending_fingerprint: str | None = Field(
        default=None, description="hash of the pending change it confirms"
    )
    request_ref: str | None = None
    address_digest: str | None = Field(
        default=None,
        description="hash of the identity the mail went to: a confirm link stops working once the contact "
        "has moved to another address, whose owner never saw it",
    )
    created_at: datetime
    expires_at: datetime | None = None
    used_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        """DynamoDB's TTL deletes late, so expiry is checked here, never left to TTL."""
        return self.used_at is None and (self.expires_at is None or now < self.expires_at)
