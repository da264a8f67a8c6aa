"""Many senders posting single-contact webhooks at once, and what a user checks afterwards.

Shared by the short run in `make test` (tests/e2e/test_load_concurrency.py) and the long one in
`make soak` (tests/soak/). Loopback only, bounded by a duration.

Each address is sent from its own loopback client address (127.1.x.y), as people's browsers
would be: then the load is the same whether a source is a server or a public form (whose
confirmation mails are capped per client IP and hour).
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync_ops.local_stack.mail_sink import read_mails
from tests.e2e.stack_client import StackClient

ANSWERS_WITHOUT_RETRY = frozenset({202, 400, 401, 404, 409, 413, 415, 422})


@dataclass(frozen=True)
class SendingSource:
    source_id: str
    token: str


@dataclass(frozen=True)
class LoadPlan:
    """Who sends what for how long.

    Each request's address is, by share: one of a small pool every sender repeats (updates of
    known contacts); a brand-new address that every sender posting in the same short window
    sends too (several senders create the same contact at once); or an address sent once.
    """

    senders: int
    duration_seconds: float
    sources: tuple[SendingSource, ...]
    run_label: str
    pool_size: int = 50
    pool_share: float = 0.3
    burst_share: float = 0.3
    burst_window_seconds: float = 0.25
    retries: int = 0  # how often a sender posts the same address again after a 429 or 503
    seed: int = 8


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer, as the sender saw it."""

    address: str
    status: int
    seconds: float
    accepted_contact_ids: tuple[str, ...]
    final: bool  # the last answer the sender got for this attempt (no retry followed)
    failure: str = ""  # status 0: why no answer came (the exception's type and message)


@dataclass
class LoadRecord:
    plan: LoadPlan
    exchanges: list[Exchange] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def statuses(self) -> Counter[int]:
        return Counter(exchange.status for exchange in self.exchanges)

    def accepted_addresses(self) -> set[str]:
        return {exchange.address for exchange in self.exchanges if exchange.accepted_contact_ids}

    def sent_addresses(self) -> set[str]:
        return {exchange.address for exchange in self.exchanges}

    def figures(self) -> dict[str, Any]:
        statuses = self.statuses()
        latencies = sorted(exchange.seconds for exchange in self.exchanges)
        return {
            "senders": self.plan.senders,
            "sources": len(self.plan.sources),
            "duration_seconds": round(self.elapsed_seconds, 1),
            "requests": len(self.exchanges),
            "requests_per_second": round(len(self.exchanges) / max(self.elapsed_seconds, 0.001), 1),
            "status_202": statuses[202],
            "status_4xx": {str(code): count for code, count in sorted(statuses.items()) if 400 <= code < 500},
            "status_5xx": {str(code): count for code, count in sorted(statuses.items()) if code >= 500},
            "no_answer": dict(Counter(item.failure for item in self.exchanges if item.status == 0)),
            "latency_p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
            "latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
            "addresses_sent": len(self.sent_addresses()),
            "addresses_accepted": len(self.accepted_addresses()),
        }


def _percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[round(share * 100) - 1]


class AddressBook:
    """Picks each request's address and gives every address its own loopback client IP."""

    def __init__(self, plan: LoadPlan, started: float) -> None:
        self._plan = plan
        self._started = started
        self._lock = threading.Lock()
        self._next_single = itertools.count()
        self._client_ips: dict[str, str] = {}
        self._next_ip = itertools.count()

    def _address(self, kind: str, number: int) -> str:
        return f"load-{self._plan.run_label}-{kind}-{number}@example.com"

    def pick(self, chance: random.Random) -> str:
        roll = chance.random()
        if roll < self._plan.pool_share:
            return self._address("pool", chance.randrange(self._plan.pool_size))
        if roll < self._plan.pool_share + self._plan.burst_share:
            window = int((time.monotonic() - self._started) / self._plan.burst_window_seconds)
            return self._address("burst", window)
        with self._lock:
            return self._address("single", next(self._next_single))

    def client_ip(self, address: str) -> str:
        with self._lock:
            if address not in self._client_ips:
                number = next(self._next_ip)
                self._client_ips[address] = f"127.1.{number // 250 % 250}.{number % 250 + 1}"
            return self._client_ips[address]


def _post_once(api_url: str, source: SendingSource, address: str, client_ip: str) -> tuple[int, Any]:
    """One request on a fresh connection bound to the address's own client IP."""
    target = urlsplit(api_url)
    connection = http.client.HTTPConnection(
        target.hostname or "127.0.0.1", target.port, timeout=60, source_address=(client_ip, 0)
    )
    try:
        connection.request(
            "POST",
            f"/v1/sources/{source.source_id}/contacts",
            body=json.dumps({"email": address, "first_name": "Load", "language": "en"}),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {source.token}"},
        )
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return response.status, body


def _accepted_ids(status: int, body: Any) -> tuple[str, ...]:
    if status != 202 or not isinstance(body, dict):
        return ()
    return tuple(
        str(result["contact_id"])
        for result in body.get("results", [])
        if result.get("status") == "accepted" and result.get("contact_id")
    )


def run_load(api_url: str, plan: LoadPlan) -> LoadRecord:
    """Every sender posts one contact after the other until the duration is over."""
    record = LoadRecord(plan)
    started = time.monotonic()
    deadline = started + plan.duration_seconds
    book = AddressBook(plan, started)

    def sender(number: int) -> None:
        chance = random.Random(plan.seed * 1000 + number)  # noqa: S311 - a reproducible mix, not a secret
        source = plan.sources[number % len(plan.sources)]
        while time.monotonic() < deadline:
            address = book.pick(chance)
            for attempt in range(plan.retries + 1):
                began = time.monotonic()
                failure = ""
                try:
                    status, body = _post_once(api_url, source, address, book.client_ip(address))
                except (OSError, http.client.HTTPException) as error:
                    status, body = 0, None  # the connection failed: no answer at all
                    failure = f"{type(error).__name__}: {error}"[:120]
                retry = status not in ANSWERS_WITHOUT_RETRY and attempt < plan.retries
                record.exchanges.append(
                    Exchange(
                        address=address,
                        status=status,
                        seconds=time.monotonic() - began,
                        accepted_contact_ids=_accepted_ids(status, body),
                        final=not retry,
                        failure=failure,
                    )
                )
                if not retry:
                    break
                time.sleep(0.2 + chance.random() * 0.3)

    threads = [threading.Thread(target=sender, args=(number,), daemon=True) for number in range(plan.senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=plan.duration_seconds + 120)
    record.elapsed_seconds = time.monotonic() - started
    return record


@dataclass(frozen=True)
class StoredOutcome:
    """What the stack holds for one load run's addresses, compared with what it answered."""

    contacts_by_address: dict[str, list[str]]
    mails_by_address: Counter[str]
    answered_ids_by_address: dict[str, set[str]]
    accepted: set[str]
    sent: set[str]

    @property
    def lost(self) -> list[str]:
        """Answered 202 accepted, yet not stored."""
        return sorted(address for address in self.accepted if not self.contacts_by_address.get(address))

    @property
    def duplicated(self) -> list[str]:
        """Stored more than once, or answered with different contact ids."""
        return sorted(
            address
            for address in self.sent
            if len(self.contacts_by_address.get(address, [])) > 1
            or len(self.answered_ids_by_address.get(address, set())) > 1
        )

    @property
    def answer_disagrees_with_storage(self) -> list[str]:
        """The contact id in the 202 answers is not the stored contact's id."""
        return sorted(
            address
            for address in self.accepted
            if self.contacts_by_address.get(address)
            and not self.answered_ids_by_address[address] <= set(self.contacts_by_address[address])
        )

    @property
    def stored_without_acceptance(self) -> list[str]:
        """Stored though every answer the sender got refused it (a 429 that wrote anyway)."""
        return sorted(
            address
            for address, ids in self.contacts_by_address.items()
            if ids and address not in self.accepted
        )

    @property
    def mails_missing(self) -> list[str]:
        return sorted(address for address in self.accepted if self.mails_by_address[address] == 0)

    @property
    def mails_duplicated(self) -> list[str]:
        return sorted(address for address, count in self.mails_by_address.items() if count > 1)

    def figures(self) -> dict[str, int]:
        return {
            "contacts_stored": sum(1 for ids in self.contacts_by_address.values() if ids),
            "contacts_lost": len(self.lost),
            "contacts_duplicated": len(self.duplicated),
            "stored_without_acceptance": len(self.stored_without_acceptance),
            "mails": sum(self.mails_by_address.values()),
            "mails_missing": len(self.mails_missing),
            "mails_duplicated": len(self.mails_duplicated),
        }


def stored_contacts(stack: StackClient, run_label: str) -> dict[str, list[str]]:
    """Contact ids per email of this run, read from the contacts table (every profile item)."""
    repository = DynamoContactRepository(stack.target.dynamodb(), stack.target.contacts_table)
    prefix = f"EMAIL#load-{run_label}-"
    found: dict[str, list[str]] = {}
    cursor: str | None = None
    while True:
        contacts, cursor = repository.scan_page(cursor)
        for contact in contacts:
            if contact.identity_key.startswith(prefix):
                found.setdefault(contact.identity_key.removeprefix("EMAIL#"), []).append(contact.contact_id)
        if cursor is None:
            return found


def mails_per_address(mail_dir: Path, run_label: str) -> Counter[str]:
    mails: list[EmailMessage] = read_mails(mail_dir)
    return Counter(
        str(mail["To"]).lower() for mail in mails if str(mail["To"]).lower().startswith(f"load-{run_label}-")
    )


def settle_and_compare(
    stack: StackClient, record: LoadRecord, mail_dir: Path, timeout: float
) -> StoredOutcome:
    """Once the Mail queue is empty, compare the answers with the table and the mail sink."""
    stack.wait_for_queue_empty(stack.target.mail_queue_url, timeout=timeout)
    answered: dict[str, set[str]] = {}
    for exchange in record.exchanges:
        if exchange.accepted_contact_ids:
            answered.setdefault(exchange.address, set()).update(exchange.accepted_contact_ids)
    return StoredOutcome(
        contacts_by_address=stored_contacts(stack, record.plan.run_label),
        mails_by_address=mails_per_address(mail_dir, record.plan.run_label),
        answered_ids_by_address=answered,
        accepted=record.accepted_addresses(),
        sent=record.sent_addresses(),
    )
