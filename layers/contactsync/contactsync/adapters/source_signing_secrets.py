"""Standard Webhooks signing secrets of the sources, in one Secrets Manager secret.

The secret is a JSON object ``{source_id: [{"secret": "whsec_...", "valid_until": iso|null}]}``.
Rotation adds a new secret and gives the old one a ``valid_until``, so senders
have a grace period to switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import BaseModel, TypeAdapter

from contactsync.adapters.secret_values import JsonSecretWriter
from contactsync.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

CACHE_SECONDS = 10  # a secret revoked without grace stops working within this, as a revoked bearer token
FRESH_READ_FLOOR_SECONDS = 1.0  # per source: failing signatures cannot turn into a flood of reads
MAX_SOURCES_REMEMBERED = 1000


class SigningSecret(BaseModel):
    secret: str
    valid_until: datetime | None = None


_SECRETS = TypeAdapter(dict[str, list[SigningSecret]])


class SecretsManagerSourceSigningSecrets:
    def __init__(
        self, client: SecretsManagerClient, secret_id: str, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id
        self._monotonic = monotonic
        self._fresh_read_at: dict[str, float] = {}

    def secrets_for(self, source_id: str, now: datetime, *, fresh: bool = False) -> list[str]:
        entries = self._entries(source_id, force_fetch=fresh and self._may_read_fresh(source_id))
        return [entry.secret for entry in entries if entry.valid_until is None or now < entry.valid_until]

    def _may_read_fresh(self, source_id: str) -> bool:
        at = self._monotonic()
        last = self._fresh_read_at.get(source_id)
        if last is not None and at - last < FRESH_READ_FLOOR_SECONDS:
            return False
        if len(self._fresh_read_at) >= MAX_SOURCES_REMEMBERED:
            self._fresh_read_at.clear()
        self._fresh_read_at[source_id] = at
        return True

    def _entries(self, source_id: str, *, force_fetch: bool) -> list[SigningSecret]:
        try:
            document: Any = self._provider.get(
                self._secret_id, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch
            )
        except GetParameterError as error:
            raise ServiceUnavailable("the source signing secrets could not be read") from error
        return _SECRETS.validate_python(
            {k: v for k, v in (document or {}).items() if isinstance(v, list)}
        ).get(source_id, [])

    def add_secret(
        self, source_id: str, secret: str, previous_valid_until: datetime | None, now: datetime
    ) -> None:
        """Store a new current secret; the previous ones stay valid until ``previous_valid_until``.

        Old secrets whose grace period has ended by ``now`` (the caller's clock) are dropped.
        """

        def rotate(document: dict[str, Any]) -> None:
            entries = _SECRETS.validate_python(
                {k: v for k, v in document.items() if isinstance(v, list)}
            ).get(source_id, [])
            kept = [
                # Each old secret keeps the earlier of its own grace period and the new one.
                entry.model_copy(
                    update={
                        "valid_until": previous_valid_until
                        if entry.valid_until is None
                        else min(entry.valid_until, previous_valid_until)
                    }
                )
                for entry in entries
                if previous_valid_until is not None and (entry.valid_until is None or entry.valid_until > now)
            ]
            document[source_id] = [SigningSecret(secret=secret).model_dump(mode="json")] + [
                entry.model_dump(mode="json") for entry in kept
            ]

        JsonSecretWriter(self._client, self._secret_id).update(rotate)
