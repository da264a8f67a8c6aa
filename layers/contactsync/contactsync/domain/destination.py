"""A destination: a system that receives every change to the contacts it concerns."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class DestinationType(StrEnum):
    SIGNED_WEBHOOK = "signed_webhook"


class Destination(BaseModel):
    """Configuration of one destination; its credentials live in Secrets Manager."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    destination_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    type: DestinationType
    url: HttpUrl
    enabled: bool = True
