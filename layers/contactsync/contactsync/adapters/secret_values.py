"""Plain secret values from Secrets Manager, cached per container by Powertools' parameters utility."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from contactsync.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class CachedSecret:
    """Callable returning the secret's bytes; fetched at most once per ``max_age`` seconds."""

    def __init__(self, client: SecretsManagerClient, secret_id: str, max_age: int = 3600) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id
        self._max_age = max_age

    def __call__(self) -> bytes:
        value = self._provider.get(self._secret_id, max_age=self._max_age)
        if not value:
            raise ConfigurationError("a required secret is empty")
        return value.encode() if isinstance(value, str) else bytes(value)
