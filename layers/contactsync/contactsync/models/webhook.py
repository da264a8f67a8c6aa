"""What a source's webhook sends, and what the ingest endpoint answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ContactSubmission(BaseModel):
    """One contact as a source posts it. Unknown fields are kept as custom attributes."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    email: str | None = Field(default=None, max_length=320, json_schema_extra={"format": "email"})
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=35)


class FieldError(BaseModel):
    path: str
    message: str


class ContactResult(BaseModel):
    """The outcome for one submitted contact, in the order they were sent."""

    index: int
    status: Literal["accepted", "rejected"]
    contact_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class IngestResponse(BaseModel):
    request_id: str
    accepted: int
    rejected: int
    results: list[ContactResult]


class ErrorBody(BaseModel):
    """Every error response of the API has this shape."""

    error: str = Field(description="stable machine-readable code")
    message: str
    request_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
