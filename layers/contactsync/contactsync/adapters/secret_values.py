"""Plain secret values from Secrets Manager, cached per container by Powertools' parameters utility."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from contactsync.errors import ConfigurationError, ServiceUnavailable

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


class JsonSecretValues:
    """Named values inside one JSON secret (e.g. the bearer tokens of import sources)."""

    def __init__(self, client: SecretsManagerClient, secret_id: str, max_age: int = 300) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id
        self._max_age = max_age

    def value(self, key: str) -> str:
        try:
            document = self._provider.get(self._secret_id, transform="json", max_age=self._max_age)
        except GetParameterError as error:
            raise ServiceUnavailable("the credentials secret could not be read") from error
        value = document.get(key) if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ConfigurationError(f"the credentials secret has no value named {key}")
        return value


class JsonSecretWriter:
    """Sets one named value inside a JSON secret (operator side: read-modify-write)."""

    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id

    def put(self, key: str, value: str) -> None:
        raw = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
        document = {k: v for k, v in json.loads(raw or "{}").items() if k != "_bootstrap"}
        document[key] = value
        self._client.put_secret_value(SecretId=self._secret_id, SecretString=json.dumps(document))
