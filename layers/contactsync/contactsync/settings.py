"""Settings read once from the environment into a typed model.

Every variable is set by template.yaml (Globals or the function); a missing one
is a deployment fault, so we fail at cold start with a message naming it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

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
    opt_ins_per_ip_per_hour: int = Field(default=20, alias="CONTACTSYNC_OPT_INS_PER_IP_PER_HOUR", gt=0)
    opt_in_token_days: int = Field(default=7, alias="CONTACTSYNC_OPT_IN_TOKEN_DAYS", gt=0, le=30)
    organisation_name: str = Field(default="contactsync", alias="CONTACTSYNC_ORGANISATION_NAME", min_length=1)
    organisation_postal_address: str = Field(default="", alias="CONTACTSYNC_ORGANISATION_POSTAL_ADDRESS")
    # Mail (the Mail function): SES v2 in AWS, or SMTP for any other provider.
    mail_transport: Literal["ses", "smtp"] = Field(default="ses", alias="CONTACTSYNC_MAIL_TRANSPORT")
    mail_from_address: str = Field(default="", alias="CONTACTSYNC_MAIL_FROM_ADDRESS")
    ses_configuration_set: str = Field(default="", alias="CONTACTSYNC_SES_CONFIGURATION_SET")
    smtp_host: str = Field(default="", alias="CONTACTSYNC_SMTP_HOST")
    smtp_port: int = Field(default=587, alias="CONTACTSYNC_SMTP_PORT", gt=0, lt=65536)
    smtp_starttls: bool = Field(default=True, alias="CONTACTSYNC_SMTP_STARTTLS")
    public_base_url: str = Field(default="", alias="CONTACTSYNC_PUBLIC_BASE_URL")
    # Imports (the Sync function).
    sync_queue_url: str = Field(default="", alias="CONTACTSYNC_SYNC_QUEUE_URL")
    job_secret_id: str = Field(default="", alias="CONTACTSYNC_JOB_SECRET_ID")

    def require(self, *names: str) -> None:
        """Fail with the variables' names when a function needs settings its template did not give."""
        missing = [str(self.model_fields[name].alias) for name in names if not getattr(self, name)]
        if missing:
            raise ConfigurationError(f"contactsync settings are missing: {', '.join(missing)}")

    max_body_bytes: int = Field(default=256 * 1024, alias="CONTACTSYNC_MAX_BODY_BYTES", gt=0)
    max_batch_contacts: int = Field(default=1000, alias="CONTACTSYNC_MAX_BATCH_CONTACTS", gt=0)
    push_timeout_seconds: float = Field(default=10.0, alias="CONTACTSYNC_PUSH_TIMEOUT_SECONDS", gt=0)
    push_retry_base_seconds: float = Field(default=30.0, alias="CONTACTSYNC_PUSH_RETRY_BASE_SECONDS", ge=0)
    push_dead_letter_queue_url: str = Field(default="", alias="CONTACTSYNC_PUSH_DLQ_URL")

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
