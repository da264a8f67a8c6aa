"""Operator actions on sources: register, list, show, rotate credentials, disable.

Credentials are shown once, when created: bearer tokens are stored only as
hashes, signing secrets only in Secrets Manager.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from contactsync.domain.contact import utc_now
from contactsync.domain.field_mapping import FieldMapping
from contactsync.domain.source import (
    DEFAULT_EVENT_ACTIONS,
    AuthMode,
    ConsentMode,
    EventAction,
    Source,
    TokenHash,
    hash_token,
)
from contactsync.errors import ClientError, SourceNotFound
from contactsync.ports import SourceRepository

TOKEN_BYTES = 32
SIGNING_SECRET_BYTES = 32
DEFAULT_GRACE = timedelta(hours=24)


class SourceAlreadyExists(ClientError):
    code = "source_exists"
    public_message = "A source with this id already exists."


class SigningSecretStore(Protocol):
    def add_secret(
        self, source_id: str, secret: str, previous_valid_until: datetime | None, now: datetime
    ) -> None: ...


@dataclass(frozen=True)
class IssuedCredential:
    source: Source
    credential: str  # a bearer token or a whsec_ signing secret: shown once, never stored in clear here

    @property
    def kind(self) -> str:
        return "signing secret" if self.source.auth_mode is AuthMode.STANDARD_WEBHOOKS else "bearer token"


@dataclass(frozen=True)
class SourceSettings:
    name: str
    consent_mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN
    auth_mode: AuthMode = AuthMode.BEARER_TOKEN
    default_language: str = "en"
    default_lists: tuple[str, ...] = ()
    field_mapping: FieldMapping = field(default_factory=FieldMapping)
    newsletter_field_required: bool = False
    public_form: bool = False
    redirect_allow_list: tuple[str, ...] = ()
    event_actions: dict[str, EventAction] = field(default_factory=lambda: dict(DEFAULT_EVENT_ACTIONS))


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SIGNING_SECRET_BYTES)).decode()


class ManageSources:
    def __init__(
        self,
        sources: SourceRepository,
        signing_secrets: SigningSecretStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sources = sources
        self._signing_secrets = signing_secrets
        self._clock = clock

    def register(self, source_id: str, settings: SourceSettings) -> IssuedCredential:
        if self._sources.get(source_id) is not None:
            raise SourceAlreadyExists(f"A source named {source_id} already exists.")
        source = Source(
            source_id=source_id,
            name=settings.name,
            auth_mode=settings.auth_mode,
            consent_mode=settings.consent_mode,
            default_language=settings.default_language,
            default_lists=settings.default_lists,
            field_mapping=settings.field_mapping,
            newsletter_field_required=settings.newsletter_field_required,
            public_form=settings.public_form,
            redirect_allow_list=settings.redirect_allow_list,
            event_actions=settings.event_actions,
            created_at=self._clock(),
        )
        return self._issue(source, grace=None)

    def rotate(self, source_id: str, grace: timedelta = DEFAULT_GRACE) -> IssuedCredential:
        """A new credential; the old ones keep working for ``grace`` so senders can switch."""
        return self._issue(self.show(source_id), grace=grace)

    def disable(self, source_id: str) -> Source:
        disabled = self.show(source_id).model_copy(update={"enabled": False})
        self._sources.put(disabled)
        return disabled

    def show(self, source_id: str) -> Source:
        source = self._sources.get(source_id)
        if source is None:
            raise SourceNotFound(f"No source named {source_id}.")
        return source

    def list_all(self) -> list[Source]:
        return sorted(self._sources.list_all(), key=lambda source: source.source_id)

    def _issue(self, source: Source, grace: timedelta | None) -> IssuedCredential:
        now = self._clock()
        retire_at = now + grace if grace is not None else None
        if source.auth_mode is AuthMode.STANDARD_WEBHOOKS:
            credential = new_signing_secret()
            self._signing_secrets.add_secret(
                source.source_id, credential, previous_valid_until=retire_at, now=now
            )
            self._sources.put(source)
            return IssuedCredential(source=source, credential=credential)
        credential = secrets.token_urlsafe(TOKEN_BYTES)
        # Each old token keeps the earlier of its own grace period and this one (as signing secrets do):
        # a rotation without grace, after a leak, retires every older token at once.
        kept = tuple(
            TokenHash(
                sha256=old.sha256,
                valid_until=retire_at if old.valid_until is None else min(old.valid_until, retire_at),
            )
            for old in source.token_hashes
            if retire_at is not None and retire_at > now and old.valid_at(now)
        )
        updated = source.model_copy(
            update={"token_hashes": (TokenHash(sha256=hash_token(credential)), *kept)}
        )
        self._sources.put(updated)
        return IssuedCredential(source=updated, credential=credential)
