"""Deliver changes as Standard Webhooks: a JSON POST signed with the destination's secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import requests
from standardwebhooks.webhooks import Webhook

from contactsync.domain.destination import Destination
from contactsync.errors import DeliveryFailed
from contactsync.models.destination_payloads import WebhookEvent

if TYPE_CHECKING:
    from contactsync.domain.change import ContactChange
    from contactsync.domain.contact import Contact


class SigningSecrets(Protocol):
    def signing_secret(self, destination_id: str) -> str: ...


class SignedWebhookGateway:
    """``DestinationGateway`` for signed webhooks.

    The ``webhook-id`` is derived from the contact and version, so a replayed
    message carries the same id and the receiver can drop the duplicate.
    """

    def __init__(self, session: requests.Session, secrets: SigningSecrets, timeout_seconds: float) -> None:
        self._session = session
        self._secrets = secrets
        self._timeout = timeout_seconds

    def deliver(self, destination: Destination, change: ContactChange, contact: Contact) -> None:
        body = WebhookEvent.from_change(change, contact).model_dump_json()
        message_id = f"msg_{contact.contact_id}_{contact.version}"
        sent_at = datetime.now(UTC)
        signature = Webhook(self._secrets.signing_secret(destination.destination_id)).sign(
            message_id, sent_at, body
        )
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        try:
            response = self._session.post(
                str(destination.url), data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as error:
            raise DeliveryFailed(destination.destination_id, type(error).__name__, retryable=True) from None
        if response.status_code < 300:
            return
        retryable = response.status_code == 429 or response.status_code >= 500
        raise DeliveryFailed(destination.destination_id, f"HTTP {response.status_code}", retryable=retryable)
