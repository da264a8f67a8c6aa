"""The consent ledger: append-only events per contact, each holding the hash of the one before.

A record answers who (contact, source), what (lists or purpose, the wording
and its hash), how (form, webhook, import), when and from where (time, IP and
user agent of the request and of the confirmation), the confirmation mail's
Message-ID, and every withdrawal. Changing or removing an event breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from contactsync.domain.contact import ConsentBasis

GENESIS_HASH = "0" * 64
USER_AGENT_LIMIT = 500


def _clip_user_agent(value: object) -> object:
    """Browsers send long user agents: keep the first 500 characters, and none for an empty one."""
    if isinstance(value, str):
        return value[:USER_AGENT_LIMIT] or None
    return value


UserAgent = Annotated[str | None, BeforeValidator(_clip_user_agent)]


class ConsentEventType(StrEnum):
    REQUESTED = "requested"
    MAIL_SENT = "mail_sent"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    LAPSED = "lapsed"
    RECORDED = "recorded"  # consent on file, as a source proved it


class ConsentEventDraft(BaseModel):
    """What happened; the ledger adds the sequence number and the hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ConsentEventType
    at: datetime
    source_id: str | None = None
    purpose: tuple[str, ...] = Field(default=(), description="lists the consent covers")
    method: str | None = Field(default=None, description="form, webhook, import, link, one-click ...")
    basis: ConsentBasis | None = None
    expires_at: datetime | None = None
    wording_version: str | None = None
    wording_sha256: str | None = None
    ip: str | None = None
    user_agent: UserAgent = None
    message_id: str | None = None
    request_ref: str | None = Field(
        default=None, description="ties a mail and a confirmation to their request"
    )


class ConsentEvent(ConsentEventDraft):
    sequence: int = Field(ge=1)
    previous_sha256: str
    sha256: str


def event_digest(draft: ConsentEventDraft, sequence: int, previous_sha256: str) -> str:
    canonical = json.dumps(
        {"event": draft.model_dump(mode="json"), "sequence": sequence, "previous": previous_sha256},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_event(previous: ConsentEvent | None, draft: ConsentEventDraft) -> ConsentEvent:
    """The next event of the chain."""
    sequence = previous.sequence + 1 if previous else 1
    previous_sha256 = previous.sha256 if previous else GENESIS_HASH
    return ConsentEvent(
        **draft.model_dump(),
        sequence=sequence,
        previous_sha256=previous_sha256,
        sha256=event_digest(draft, sequence, previous_sha256),
    )


def chain_is_intact(events: Sequence[ConsentEvent]) -> bool:
    """True when every event is where it should be and nothing was altered."""
    previous_sha256 = GENESIS_HASH
    for expected_sequence, event in enumerate(events, start=1):
        draft = ConsentEventDraft.model_validate(
            event.model_dump(exclude={"sequence", "previous_sha256", "sha256"})
        )
        if (
            event.sequence != expected_sequence
            or event.previous_sha256 != previous_sha256
            or event.sha256 != event_digest(draft, event.sequence, previous_sha256)
        ):
            return False
        previous_sha256 = event.sha256
    return True
