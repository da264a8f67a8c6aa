"""Bodies of the messages that travel on the queues."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contactsync.domain.change import ContactChange
from contactsync.domain.consent_ledger import UserAgent
from contactsync.domain.subscription_rules import OptInKind


class PushMessage(BaseModel):
    """A change to deliver to every destination it concerns (the Push queue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    change: ContactChange
    destination_id: str | None = Field(default=None, description="only this destination (a backfill)")

    def deduplication_id(self) -> str:
        return f"{self.change.contact_id}:{self.change.version}"


class OptInRequest(BaseModel):
    """A confirmation mail to send (the Mail queue), with what the consent record needs of the request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    contact_id: str
    contact_version: int = Field(ge=1)
    kind: OptInKind
    source_id: str
    requested_at: datetime
    request_ip: str | None = None
    user_agent: UserAgent = None


class RunMessage(BaseModel):
    """Run (or go on with) one import run (the Sync queue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    run_id: str = Field(min_length=1, max_length=64)


class HeldMessage(BaseModel):
    """A push or mail message that could not be queued, kept in the outbox until it is.

    Exactly one of ``push`` and ``opt_in`` is set. ``hold_key`` is the same for the
    same message, so holding it twice keeps one copy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    held_at: datetime
    push: PushMessage | None = None
    opt_in: OptInRequest | None = None

    @model_validator(mode="after")
    def _one_message(self) -> HeldMessage:
        if (self.push is None) == (self.opt_in is None):
            raise ValueError("a held message is either a push message or a confirmation mail request")
        return self

    @property
    def hold_key(self) -> str:
        if self.push is not None:
            return f"push#{self.push.deduplication_id()}#{self.push.destination_id or '*'}"
        assert self.opt_in is not None
        return f"mail#{self.opt_in.contact_id}:{self.opt_in.contact_version}"
