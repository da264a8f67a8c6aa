"""Settings read once from the environment into a typed model.

Every variable is set by template.yaml (Globals or the function); a missing one
is a deployment fault, so we fail at cold start with a message naming it.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contactsync.errors import ConfigurationError


class Settings(BaseModel):
    """What every function needs to know about the stack it runs in."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    stage: str = Field(alias="CONTACTSYNC_STAGE", min_length=1)
    contacts_table: str = Field(alias="CONTACTSYNC_CONTACTS_TABLE", min_length=3)
    idempotency_table: str = Field(alias="CONTACTSYNC_IDEMPOTENCY_TABLE", min_length=3)
    push_queue_url: str = Field(alias="CONTACTSYNC_PUSH_QUEUE_URL", min_length=1)
    destination_secret_id: str = Field(alias="CONTACTSYNC_DESTINATION_SECRET_ID", min_length=1)
    mail_queue_url: str = Field(alias="CONTACTSYNC_MAIL_QUEUE_URL", min_length=1)
    source_secret_id: str = Field(alias="CONTACTSYNC_SOURCE_SECRET_ID", min_length=1)
    suppression_key_secret_id: str = Field(alias="CONTACTSYNC_SUPPRESSION_KEY_SECRET_ID", min_length=1)
    opt_in_resend_hours: float = Field(default=24.0, alias="CONTACTSYNC_OPT_IN_RESEND_HOURS", ge=0)
    idempotency_hours: float = Field(default=24.0, alias="CONTACTSYNC_IDEMPOTENCY_HOURS", gt=0)
    max_body_bytes: int = Field(default=256 * 1024, alias="CONTACTSYNC_MAX_BODY_BYTES", gt=0)
    max_batch_contacts: int = Field(default=1000, alias="CONTACTSYNC_MAX_BATCH_CONTACTS", gt=0)
    push_timeout_seconds: float = Field(default=10.0, alias="CONTACTSYNC_PUSH_TIMEOUT_SECONDS", gt=0)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        source = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate(source)
        except ValidationError as error:
            problems = ", ".join(
                f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
            )
            raise ConfigurationError(f"contactsync settings are incomplete or invalid ({problems})") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container, read once."""
    return Settings.from_environment()
