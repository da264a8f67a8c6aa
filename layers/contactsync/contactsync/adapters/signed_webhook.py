"""Deliver changes as Standard Webhooks: a JSON POST per contact, signed with the destination's secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from pydantic import BaseModel
from standardwebhooks.webhooks import Webhook

from contactsync.domain.delivery import ItemResult, OutboundItem
from contactsync.domain.destination import Destination


class SigningSecrets(Protocol):
    def signing_secret(self, destination_id: str) -> str: ...


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


class WebhookBody(BaseModel):
    """The JSON body of a signed-webhook delivery."""

    type: str
    status: str
    data: dict[str, Any]


class SignedWebhookConnector:
    """``DestinationConnector`` for signed webhooks.

    The ``webhook-id`` is derived from the contact, version and kind, so a
    replayed message carries the same id and the receiver can drop the duplicate.
    """

    def __init__(self, session: requests.Session, secrets: SigningSecrets, timeout_seconds: float) -> None:
        self._session = session
        self._secrets = secrets
        self._timeout = timeout_seconds

    def deliver(self, destination: Destination, items: Sequence[OutboundItem]) -> list[ItemResult]:
        signer = Webhook(self._secrets.signing_secret(destination.destination_id))
        return [self._post(destination, signer, item) for item in items]

    def _post(self, destination: Destination, signer: Webhook, item: OutboundItem) -> ItemResult:
        kind = "erased" if item.erase else item.kind.value
        body = WebhookBody(
            type=f"contact.{kind}", status=item.status.value, data=item.document
        ).model_dump_json()
        message_id = f"msg_{item.contact_id}_{item.version}_{kind}"
        sent_at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signer.sign(message_id, sent_at, body),
        }
        try:
            response = self._session.post(
                str(destination.url), data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as error:
            return ItemResult(
                contact_id=item.contact_id, ok=False, retryable=True, reason=type(error).__name__
            )
        if response.status_code < 300:
            return ItemResult(contact_id=item.contact_id, ok=True, remote_id=item.contact_id)
        retryable = response.status_code in {408, 425, 429} or response.status_code >= 500
        return ItemResult(
            contact_id=item.contact_id,
            ok=False,
            retryable=retryable,
            reason=f"HTTP {response.status_code}",
            retry_after_seconds=retry_after(response),
        )
