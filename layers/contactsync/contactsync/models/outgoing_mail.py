"""A mail ready to send: both bodies, the headers that matter, nothing transport-specific."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OutgoingMail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    to_address: str
    from_address: str
    from_name: str | None = None
    subject: str = Field(max_length=200)
    text_body: str
    html_body: str
    headers: dict[str, str] = Field(default_factory=dict, description="List-Unsubscribe and friends")
