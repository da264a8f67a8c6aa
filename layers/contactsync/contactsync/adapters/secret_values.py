"""Plain secret values from Secrets Manager, cached per container by Powertools' parameters utility."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
        try:
            value = self._provider.get(self._secret_id, max_age=self._max_age)
        except GetParameterError as error:
            raise ServiceUnavailable("a required secret could not be read") from error
        if not value:
            raise ConfigurationError("a required secret is empty")
        return value.encode() if isinstance(value, str) else bytes(value)


class JsonSecretValues:
    """Named values inside one JSON secret (e.g. the bearer tokens of import sources).

    An import reads its token once per slice, so a short cache costs nothing: a token the
    operator has just added or replaced is used within ``max_age`` seconds, and a missing
    name is read again before the run is failed for it.
    """

    def __init__(self, client: SecretsManagerClient, secret_id: str, max_age: int = 10) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id
        self._max_age = max_age

    def value(self, key: str) -> str:
        value = self._read(key, force_fetch=False)
        if value is None:
            value = self._read(key, force_fetch=True)
        if value is None:
            raise ConfigurationError(f"the credentials secret has no value named {key}")
        return value

    def _read(self, key: str, *, force_fetch: bool) -> str | None:
        try:
            document = self._provider.get(
                self._secret_id, transform="json", max_age=self._max_age, force_fetch=force_fetch
            )
        except GetParameterError as error:
            raise ServiceUnavailable("the credentials secret could not be read") from error
        value = document.get(key) if isinstance(document, dict) else None
        return value if isinstance(value, str) else None


BOOTSTRAP_KEY = "_bootstrap"  # what CloudFormation's GenerateSecretString put in the empty document


class JsonSecretWriter:
    """Changes a JSON secret on the operator's side: read, change, write back."""

    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id

    def update(self, change: Callable[[dict[str, Any]], None]) -> None:
        raw = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
        document = {k: v for k, v in json.loads(raw or "{}").items() if k != BOOTSTRAP_KEY}
        change(document)
        self._client.put_secret_value(SecretId=self._secret_id, SecretString=json.dumps(document))

    def put(self, key: str, value: Any) -> None:
        self.update(lambda document: document.__setitem__(key, value))
