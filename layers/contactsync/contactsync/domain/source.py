"""A source: a system that pushes contacts to contactsync over a webhook."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

SOURCE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class ConsentMode(StrEnum):
    DOUBLE_OPT_IN = "double_opt_in"
    CONSENT_ON_FILE = "consent_on_file"
    DATA_ONLY = "data_only"


def hash_token(token: str) -> str:
    """Only this hash of a bearer token is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str = Field(pattern=SOURCE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    consent_mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN
    default_language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    token_hashes: tuple[str, ...] = Field(default=(), description="sha256 of each valid bearer token")
    created_at: datetime

    def accepts_token(self, token: str) -> bool:
        """Constant-time check of a bearer token against every valid hash."""
        candidate = hash_token(token)
        matches = [hmac.compare_digest(candidate, stored) for stored in self.token_hashes]
        return any(matches)
