"""Bodies of the messages that travel on the queues."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from contactsync.domain.change import ContactChange


class PushMessage(BaseModel):
    """A change to deliver to every destination it concerns (the Push queue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1
    change: ContactChange

    def deduplication_id(self) -> str:
        return f"{self.change.contact_id}:{self.change.version}"
