"""Operator actions on sources: register one (its token is shown once), list them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from contactsync.domain.contact import utc_now
from contactsync.domain.source import ConsentMode, Source, hash_token
from contactsync.errors import ClientError
from contactsync.ports import SourceRepository

TOKEN_BYTES = 32


class SourceAlreadyExists(ClientError):
    code = "source_exists"
    public_message = "A source with this id already exists."


@dataclass(frozen=True)
class RegisteredSource:
    source: Source
    bearer_token: str  # shown once to the operator, never stored


class ManageSources:
    def __init__(self, sources: SourceRepository, clock: Callable[[], datetime] = utc_now) -> None:
        self._sources = sources
        self._clock = clock

    def register(
        self,
        source_id: str,
        name: str,
        consent_mode: ConsentMode = ConsentMode.DOUBLE_OPT_IN,
        default_language: str = "en",
        *,
        replace: bool = False,
    ) -> RegisteredSource:
        if not replace and self._sources.get(source_id) is not None:
            raise SourceAlreadyExists(f"A source named {source_id} already exists.")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        source = Source(
            source_id=source_id,
            name=name,
            consent_mode=consent_mode,
            default_language=default_language,
            token_hashes=(hash_token(token),),
            created_at=self._clock(),
        )
        self._sources.put(source)
        return RegisteredSource(source=source, bearer_token=token)

    def list_all(self) -> list[Source]:
        return sorted(self._sources.list_all(), key=lambda source: source.source_id)
