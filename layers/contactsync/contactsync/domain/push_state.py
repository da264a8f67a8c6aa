"""What each destination last received of a contact: the basis of idempotent, ordered, quiet pushes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SyncStatus(StrEnum):
    SYNCED = "synced"
    FAILED = "failed"  # permanently: sits in the dead-letter queue with its reason
    RETRYING = "retrying"


class PushState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: str
    destination_id: str
    status: SyncStatus
    remote_id: str | None = None
    pushed_sha256: str | None = None
    pushed_version: int = Field(default=0, ge=0)
    pushed_at: datetime | None = None
    last_error: str | None = None


def content_sha256(content: dict[str, Any]) -> str:
    """Hash of what a destination would receive, to skip sending the same content twice."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
