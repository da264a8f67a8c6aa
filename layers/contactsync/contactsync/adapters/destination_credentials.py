"""Destination credentials from one Secrets Manager secret (a JSON object keyed by destination id).

Read through Powertools' parameters utility, which caches the secret for a few
minutes so a batch of pushes costs one GetSecretValue, not one per message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from contactsync.adapters.secret_values import JsonSecretWriter
from contactsync.errors import ConfigurationError, ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

CACHE_SECONDS = 300


class SecretsManagerDestinationCredentials:
    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._client = client
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id

    def store(self, destination_id: str, entry: dict[str, str]) -> None:
        """Write one destination's credentials (read-modify-write of the JSON secret)."""
        JsonSecretWriter(self._client, self._secret_id).put(destination_id, entry)

    def _value(self, destination_id: str, name: str) -> str:
        value = self._lookup(destination_id, name, force_fetch=False)
        if value is None:
            # A destination added after the cache was filled: read the secret again before giving up.
            value = self._lookup(destination_id, name, force_fetch=True)
        if value is None:
            raise ConfigurationError(f"no {name} is stored for destination {destination_id}")
        return value

    def _lookup(self, destination_id: str, name: str, *, force_fetch: bool) -> str | None:
        try:
            credentials: Any = self._provider.get(
                self._secret_id, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch
            )
        except GetParameterError as error:  # Push retries the destination's items; the batch goes on
            raise ServiceUnavailable("the destination credentials could not be read") from error
        entry = credentials.get(destination_id) if isinstance(credentials, dict) else None
        value = entry.get(name) if isinstance(entry, dict) else None
        return value if isinstance(value, str) else None

    def signing_secret(self, destination_id: str) -> str:
        return self._value(destination_id, "signing_secret")

    def api_key(self, destination_id: str) -> str:
        return self._value(destination_id, "api_key")
