"""In-memory fakes of the ports, for unit tests only (integration tests use DynamoDB Local and moto)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contactsync.domain.change import ContactChange
from contactsync.domain.consent_ledger import ConsentEventDraft
from contactsync.domain.contact import Contact
from contactsync.domain.destination import Destination
from contactsync.domain.opt_in_tokens import LinkToken
from contactsync.domain.source import Source
from contactsync.errors import DeliveryFailed
from contactsync.models.queue_messages import OptInRequest
from contactsync.use_cases.ingest_contacts import IngestDependencies


class InMemoryContacts:
    def __init__(self) -> None:
        self.by_id: dict[str, Contact] = {}
        self.identities: dict[str, str] = {}
        self.lose_next_create_race_to: Contact | None = None

    def find_by_identity(self, identity_key: str) -> Contact | None:
        contact_id = self.identities.get(identity_key)
        return self.by_id.get(contact_id) if contact_id else None

    def find_many_by_identity(self, identity_keys: Sequence[str]) -> dict[str, Contact]:
        found = {key: self.find_by_identity(key) for key in identity_keys}
        return {key: contact for key, contact in found.items() if contact is not None}

    def create_many(self, contacts: Sequence[Contact]) -> list[Contact]:
        return [contact for contact in contacts if not self.create(contact)]

    def update_many(self, updates: Sequence[tuple[Contact, int]]) -> list[Contact]:
        return [contact for contact, version in updates if not self.update(contact, version)]

    def create(self, contact: Contact) -> bool:
        if self.lose_next_create_race_to is not None:
            rival, self.lose_next_create_race_to = self.lose_next_create_race_to, None
            self.by_id[rival.contact_id] = rival
            self.identities[rival.identity_key] = rival.contact_id
        if contact.identity_key in self.identities:
            return False
        self.by_id[contact.contact_id] = contact
        self.identities[contact.identity_key] = contact.contact_id
        return True

    def update(self, contact: Contact, expected_version: int) -> bool:
        if self.by_id[contact.contact_id].version != expected_version:
            return False
        self.by_id[contact.contact_id] = contact
        return True

    def move_identity(self, contact: Contact, previous_identity_key: str, expected_version: int) -> bool:
        if (
            self.identities.get(previous_identity_key) != contact.contact_id
            or contact.identity_key in self.identities
        ):
            return False
        if self.by_id[contact.contact_id].version != expected_version:
            return False
        del self.identities[previous_identity_key]
        self.identities[contact.identity_key] = contact.contact_id
        self.by_id[contact.contact_id] = contact
        return True

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        return {cid: self.by_id[cid] for cid in contact_ids if cid in self.by_id}

    def erase(self, contact: Contact) -> None:
        self.by_id.pop(contact.contact_id, None)
        self.identities.pop(contact.identity_key, None)


class RecordingOptIns:
    def __init__(self) -> None:
        self.published: list[OptInRequest] = []

    def publish(self, requests: Sequence[OptInRequest]) -> None:
        self.published.extend(requests)


class InMemorySuppression:
    def __init__(self, *identity_keys: str) -> None:
        self.keys = set(identity_keys)

    def is_suppressed(self, identity_key: str) -> bool:
        return identity_key in self.keys

    def suppressed_among(self, identity_keys: Sequence[str]) -> set[str]:
        return self.keys.intersection(identity_keys)

    def suppress(self, identity_key: str) -> None:
        self.keys.add(identity_key)


class CountingRateLimiter:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    def allow(self, key: str, limit: int, now: datetime, window_seconds: int = 60) -> bool:
        self.hits[key] = self.hits.get(key, 0) + 1
        return self.hits[key] <= limit


class StaticSigningSecrets:
    def __init__(self, secrets: dict[str, list[str]] | None = None) -> None:
        self.secrets = secrets or {}

    def secrets_for(self, source_id: str, now: datetime, *, fresh: bool = False) -> list[str]:
        return self.secrets.get(source_id, [])


class InMemorySources:
    def __init__(self, *sources: Source) -> None:
        self.sources = {source.source_id: source for source in sources}

    def get(self, source_id: str, *, fresh: bool = False) -> Source | None:
        return self.sources.get(source_id)

    def put(self, source: Source) -> None:
        self.sources[source.source_id] = source

    def list_all(self) -> list[Source]:
        return list(self.sources.values())


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[ContactChange] = []

    def publish(self, changes: Sequence[ContactChange]) -> None:
        self.published.extend(changes)


class StaticDestinations:
    def __init__(self, *destinations: Destination) -> None:
        self.destinations = list(destinations)

    def list_enabled(self) -> list[Destination]:
        return [d for d in self.destinations if d.enabled]

    def put(self, destination: Destination) -> None:
        self.destinations.append(destination)


class RecordingGateway:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.delivered: list[tuple[str, str, int]] = []
        self.failing = failing or set()

    def deliver(self, destination: Destination, change: ContactChange, contact: Contact) -> None:
        if contact.contact_id in self.failing:
            raise DeliveryFailed(destination.destination_id, "HTTP 503")
        self.delivered.append((destination.destination_id, contact.contact_id, change.version))


class InMemoryTokens:
    def __init__(self) -> None:
        self.tokens: dict[str, LinkToken] = {}

    def issue(self, token: LinkToken) -> None:
        self.tokens[token.digest] = token

    def find(self, digest: str) -> LinkToken | None:
        return self.tokens.get(digest)


class InMemoryTransactions:
    """The contact and its ledger event stored together, the link spent when one is given."""

    def __init__(self, contacts: InMemoryContacts, tokens: InMemoryTokens | None = None) -> None:
        self.contacts = contacts
        self.tokens = tokens or InMemoryTokens()
        self.events: list[ConsentEventDraft] = []

    def commit(
        self,
        contact: Contact,
        expected_version: int,
        event: ConsentEventDraft,
        use_token: LinkToken | None,
        now: datetime,
    ) -> bool:
        if use_token is not None and self.tokens.tokens[use_token.digest].used_at is not None:
            return False
        if not self.contacts.update(contact, expected_version):
            return False
        if use_token is not None:
            self.tokens.tokens[use_token.digest] = use_token.model_copy(update={"used_at": now})
        self.events.append(event)
        return True


def in_memory_dependencies(**chosen: Any) -> IngestDependencies:
    """Ingest's ports on fresh in-memory fakes; pass the ones the test looks at or sets up."""
    ports: dict[str, Any] = {
        "sources": InMemorySources(),
        "contacts": InMemoryContacts(),
        "changes": RecordingPublisher(),
        "opt_ins": RecordingOptIns(),
        "suppression": InMemorySuppression(),
        "rate_limiter": CountingRateLimiter(),
        "signing_secrets": StaticSigningSecrets(),
    }
    ports["consent"] = InMemoryTransactions(chosen.get("contacts", ports["contacts"]))
    return IngestDependencies(**{**ports, **chosen})
