"""Push to Mailchimp: a backfill through the product's ``DeliverChanges``, next to the common way.

In-process, against DynamoDB Local and moto (the bench's local stack) and the Mailchimp-compatible
double (``tests.doubles.mailchimp_server``), on a loopback port:

1. N subscribed contacts are stored directly (``DynamoContactRepository.create_many``), outside any
   clock; a Mailchimp destination is registered and its API key stored in Secrets Manager.
2. Backfill: ``DeliverChanges`` built as ``contactsync.wiring.deliver_changes`` builds it (same
   adapters, retrying sessions, both connectors), fed one backfill message per
   contact in batches of the Push queue's BatchSize, as the Push function receives them.
3. Rerun: the very same batches again (a replay): nothing may reach Mailchimp.
4. The common way, on a second audience of the same double: one ``PUT /lists/{id}/members/{hash}``
   per contact with a plain ``requests.Session`` (bench only, never in the product).

HTTP calls come from the double's own counters; AWS calls from a botocore hook on the clients of the
use case. The double runs in this process too, so it shares the CPU with whichever side is measured.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from math import ceil
from typing import Any

import requests

from bench.calls import CallCounter, compare
from contactsync.adapters.destination_credentials import SecretsManagerDestinationCredentials
from contactsync.adapters.dynamodb_configuration import DynamoDestinationRepository
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.dynamodb_push_states import DynamoPushStates
from contactsync.adapters.http_sessions import retrying_session
from contactsync.adapters.mailchimp_connector import BATCH_LIMIT as MAILCHIMP_BATCH_MEMBERS
from contactsync.adapters.mailchimp_connector import MailchimpConnector, subscriber_hash
from contactsync.adapters.signed_webhook import SignedWebhookConnector
from contactsync.domain.change import ChangeKind, ContactChange
from contactsync.domain.contact import (
    ConsentBasis,
    ConsentEvidence,
    Contact,
    ContactProfile,
    SubscriptionStatus,
    identity_key_for,
)
from contactsync.domain.destination import Destination, DestinationType, MailchimpSettings
from contactsync.models.queue_messages import PushMessage
from contactsync.settings import Settings
from contactsync.use_cases.deliver_changes import DeliverChanges, Verdict
from tests.doubles.mailchimp_server import BATCH, MEMBER, MailchimpServer

PUSH_BATCH_SIZE = 500  # template.yaml: the Push function's SQS event source mapping, BatchSize
BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
# As contactsync.wiring.deliver_changes: signed webhooks on a session of 10 connections, Mailchimp on its
# own of MAILCHIMP_CONNECTIONS_PER_CONTAINER (2). A backfill batch is one Mailchimp call, so either way
# one connection is busy at a time.
WEBHOOK_POOL_SIZE = 10
MAILCHIMP_POOL_SIZE = 2
PRODUCT_LIST = "bench-product"
COMMON_LIST = "bench-common"
DESTINATION_ID = "bench-mailchimp"
PUSH_TIMEOUT_SECONDS = float(Settings.model_fields["push_timeout_seconds"].default)


def minimum_http_calls(contacts: int) -> int:
    """Fewest Mailchimp calls for a backfill of new members: the batch endpoint takes 500 a call."""
    return ceil(contacts / MAILCHIMP_BATCH_MEMBERS)


def minimum_for_backfill(batch_sizes: list[int]) -> dict[str, int]:
    """Fewest DynamoDB calls to deliver these batches of never-pushed contacts to one destination.

    Per batch: the destinations (one Query), the contacts and what the destination last received
    (BatchGetItem, 100 keys), and the new push states (BatchWriteItem, 25 items).
    """
    return {
        "dynamodb.Query": len(batch_sizes),
        "dynamodb.BatchGetItem": sum(2 * ceil(size / BATCH_GET_KEYS) for size in batch_sizes),
        "dynamodb.BatchWriteItem": sum(ceil(size / BATCH_WRITE_ITEMS) for size in batch_sizes),
    }


def minimum_for_replay(batch_sizes: list[int]) -> dict[str, int]:
    """Fewest DynamoDB calls to find a replayed batch already delivered: destinations and push states.

    The push state holds the version last delivered; a message whose version it has reached needs
    neither the contact nor a write.
    """
    return {
        "dynamodb.Query": len(batch_sizes),
        "dynamodb.BatchGetItem": sum(ceil(size / BATCH_GET_KEYS) for size in batch_sizes),
    }


class ClientTimer:
    """Seconds inside API calls of the clients it is attached to, from botocore's first event of a call
    (``provide-client-params``, before serialisation) to its last (``after-call``, after parsing)."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self._started = threading.local()
        self._lock = threading.Lock()

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("provide-client-params.*.*", self._before)
            client.meta.events.register("after-call.*.*", self._after)

    def _before(self, **_: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, event_name: str, **_: Any) -> None:
        elapsed = time.perf_counter() - getattr(self._started, "at", time.perf_counter())
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.by_operation[f"{service}.{operation}"] += elapsed

    def take(self) -> dict[str, float]:
        """Seconds by ``service.Operation`` since the last take."""
        with self._lock:
            taken, self.by_operation = dict(self.by_operation), Counter()
        return taken


class ResponseTimer:
    """Seconds until the response headers of every request of a ``requests`` session (its hook)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def attach(self, session: requests.Session) -> None:
        session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *_: Any, **__: Any) -> None:
        with self._lock:
            self.seconds += response.elapsed.total_seconds()

    def take(self) -> float:
        with self._lock:
            seconds, self.seconds = self.seconds, 0.0
        return seconds


@dataclass(frozen=True)
class PushEnvironment:
    """What the push bench needs of the local stack."""

    endpoints: Any  # contactsync_ops.local_stack LocalEndpoints
    table: str
    destination_secret: str
    run_id: str


class PushBench:
    def __init__(self, environment: PushEnvironment) -> None:
        self.env = environment
        self.api_key = f"{uuid.uuid4().hex}-us1"

    # ------------------------------------------------------------------ setup (outside any clock)
    def _contacts(self, n: int) -> list[Contact]:
        now = datetime.now(UTC)
        consent = ConsentEvidence(basis=ConsentBasis.EXPRESS, obtained_at=now, method="bench")
        contacts = []
        for index in range(n):
            profile = ContactProfile(
                email=f"push-{self.env.run_id}-{index:07d}@example.com",
                first_name="Ada",
                last_name=f"Lovelace {index}",
            )
            contacts.append(
                Contact(
                    contact_id=uuid.uuid4().hex,
                    identity_key=identity_key_for(profile),
                    profile=profile,
                    status=SubscriptionStatus.SUBSCRIBED,
                    consent=consent,
                    source_id="bench-push",
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        return contacts

    def _register(self, double: MailchimpServer) -> Destination:
        dynamodb = self.env.endpoints.dynamodb_client()
        secrets = self.env.endpoints.secrets_manager_client()
        destination = Destination(
            destination_id=DESTINATION_ID,
            type=DestinationType.MAILCHIMP,
            mailchimp=MailchimpSettings.model_validate({"api_url": double.url, "list_id": PRODUCT_LIST}),
        )
        credentials = SecretsManagerDestinationCredentials(secrets, self.env.destination_secret)
        credentials.store(DESTINATION_ID, {"api_key": self.api_key})
        DynamoDestinationRepository(dynamodb, self.env.table).put(destination)
        return destination

    def _deliver_changes(
        self, counter: CallCounter, aws_timer: ClientTimer, http_timer: ResponseTimer
    ) -> tuple[DeliverChanges, list[requests.Session]]:
        """``contactsync.wiring.deliver_changes`` with clients on the local endpoints (a fresh container).

        The counter and timers only observe (botocore event hooks, a requests response hook).
        """
        client = self.env.endpoints.dynamodb_client()
        secrets = self.env.endpoints.secrets_manager_client()
        counter.attach(client, secrets)
        aws_timer.attach(client, secrets)
        credentials = SecretsManagerDestinationCredentials(secrets, self.env.destination_secret)
        webhook_session = retrying_session(pool_size=WEBHOOK_POOL_SIZE)
        mailchimp_session = retrying_session(pool_size=MAILCHIMP_POOL_SIZE)
        http_timer.attach(mailchimp_session)
        use_case = DeliverChanges(
            contacts=DynamoContactRepository(client, self.env.table),
            destinations=DynamoDestinationRepository(client, self.env.table),
            push_states=DynamoPushStates(client, self.env.table),
            connectors={
                DestinationType.SIGNED_WEBHOOK: SignedWebhookConnector(
                    webhook_session, credentials, PUSH_TIMEOUT_SECONDS
                ),
                DestinationType.MAILCHIMP: MailchimpConnector(
                    mailchimp_session, credentials.api_key, PUSH_TIMEOUT_SECONDS
                ),
            },
        )
        return use_case, [webhook_session, mailchimp_session]

    @staticmethod
    def _batches(contacts: list[Contact]) -> list[dict[str, str]]:
        """The SQS batches the Push function would receive for a backfill: message id -> body."""
        now = datetime.now(UTC)
        batches = []
        for start in range(0, len(contacts), PUSH_BATCH_SIZE):
            batch = {}
            for contact in contacts[start : start + PUSH_BATCH_SIZE]:
                change = ContactChange(
                    contact_id=contact.contact_id,
                    version=contact.version,
                    kind=ChangeKind.UPDATED,
                    occurred_at=now,
                )
                batch[str(uuid.uuid4())] = PushMessage(
                    change=change, destination_id=DESTINATION_ID
                ).model_dump_json()
            batches.append(batch)
        return batches

    # ------------------------------------------------------------------ the runs
    @staticmethod
    def _push(use_case: DeliverChanges, batches: list[dict[str, str]]) -> dict[str, Any]:
        verdicts: Counter[str] = Counter()
        sent = skipped = 0
        started = time.perf_counter()
        for batch in batches:
            messages = {mid: PushMessage.model_validate_json(body) for mid, body in batch.items()}
            report = use_case.deliver(messages)
            sent += report.sent
            skipped += report.skipped
            verdicts.update(v.verdict.value for v in report.verdicts.values())
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "sent": sent, "skipped": skipped, "verdicts": dict(verdicts)}

    def _common_way(self, double: MailchimpServer, contacts: list[Contact]) -> dict[str, Any]:
        """One PUT per contact with a plain session, as most tutorials do it. Bench only.

        The same member fields the product sends (FNAME, LNAME, LANGUAGE), built before the clock.
        """
        base = f"{double.url}/lists/{COMMON_LIST}/members/"
        requests_to_send = []
        for contact in contacts:
            email = contact.profile.email
            assert email is not None
            body = {
                "email_address": email,
                "status": "subscribed",
                "status_if_new": "subscribed",
                "merge_fields": {
                    "FNAME": contact.profile.first_name,
                    "LNAME": contact.profile.last_name,
                    "LANGUAGE": contact.profile.language,
                },
            }
            requests_to_send.append((base + subscriber_hash(email), body))
        statuses: Counter[int] = Counter()
        with requests.Session() as session:
            session.auth = ("bench", self.api_key)
            started = time.perf_counter()
            for url, body in requests_to_send:
                statuses[session.put(url, json=body, timeout=PUSH_TIMEOUT_SECONDS).status_code] += 1
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "statuses": {str(code): count for code, count in statuses.items()}}

    def run(self, n: int) -> dict[str, Any]:
        contacts = self._contacts(n)
        repository = DynamoContactRepository(self.env.endpoints.dynamodb_client(), self.env.table)
        not_created = repository.create_many(contacts)
        if not_created:
            raise RuntimeError(f"{len(not_created)} bench contacts were not created")
        batches = self._batches(contacts)
        sizes = [len(batch) for batch in batches]
        emails = [str(c.profile.email).lower() for c in contacts]
        with MailchimpServer(api_key=self.api_key, lists=(PRODUCT_LIST, COMMON_LIST)) as double:
            self._register(double)
            counter, aws_timer, http_timer = CallCounter(), ClientTimer(), ResponseTimer()
            use_case, sessions = self._deliver_changes(counter, aws_timer, http_timer)
            try:
                http_before = Counter(double.calls)
                backfill = self._push(use_case, batches)
                backfill_split = _split(backfill["seconds"], aws_timer.take(), http_timer.take())
                backfill_aws = counter.snapshot()
                backfill_http = _delta(double, http_before)
                audience = double.members(PRODUCT_LIST)
                peak_connections = double.peak_connections

                counter.reset()
                http_before = Counter(double.calls)
                rerun = self._push(use_case, batches)
                rerun_split = _split(rerun["seconds"], aws_timer.take(), http_timer.take())
                rerun_aws = counter.snapshot()
                rerun_http = _delta(double, http_before)
            finally:
                for session in sessions:
                    session.close()

            http_before = Counter(double.calls)
            common = self._common_way(double, contacts)
            common_http = _delta(double, http_before)
            common_audience = double.members(COMMON_LIST)

        subscribed = sum(1 for e in emails if (m := audience.get(e)) is not None and m.status == "subscribed")
        common_subscribed = sum(
            1 for e in emails if (m := common_audience.get(e)) is not None and m.status == "subscribed"
        )
        product_rate = n / backfill["seconds"]
        common_rate = n / common["seconds"]
        http_minimum = minimum_http_calls(n)
        backfill_total = sum(backfill_http.values())
        rerun_total = sum(rerun_http.values())
        common_total = sum(common_http.values())

        backfill_figure = {
            "contacts": n,
            "batches": len(batches),
            "batch_size": PUSH_BATCH_SIZE,
            "seconds": round(backfill["seconds"], 3),
            "contacts_per_s": round(product_rate, 1),
            "seconds_split": backfill_split,
            "sent": backfill["sent"],
            "skipped": backfill["skipped"],
            "verdicts": backfill["verdicts"],
            "http_calls": backfill_total,
            "http_calls_by_route": backfill_http,
            "http_calls_per_contact": round(backfill_total / n, 5),
            "http_minimum_calls": http_minimum,
            "http_target_at_most": http_minimum,
            "peak_connections": peak_connections,
            "audience_subscribed": subscribed,
            "aws_calls": backfill_aws,
            "dynamodb": compare(_dynamodb(backfill_aws), minimum_for_backfill(sizes), n),
            "reference": {
                "what": "the common way: one PUT /lists/{id}/members/{hash} per contact, plain "
                "requests.Session, same double, another audience; HTTP only (no DynamoDB reads or writes)",
                "contacts_per_s": round(common_rate, 1),
                "http_calls": common_total,
            },
            "speedup_vs_common_way": round(product_rate / common_rate, 2),
        }
        rerun_figure = {
            "contacts": n,
            "seconds": round(rerun["seconds"], 3),
            "contacts_per_s": round(n / rerun["seconds"], 1),
            "seconds_split": rerun_split,
            "sent": rerun["sent"],
            "skipped": rerun["skipped"],
            "verdicts": rerun["verdicts"],
            "http_calls": rerun_total,
            "http_calls_by_route": rerun_http,
            "aws_calls": rerun_aws,
            "dynamodb": compare(_dynamodb(rerun_aws), minimum_for_replay(sizes), n),
        }
        common_figure = {
            "contacts": n,
            "seconds": round(common["seconds"], 3),
            "contacts_per_s": round(common_rate, 1),
            "http_statuses": common["statuses"],
            "http_calls": common_total,
            "http_calls_by_route": common_http,
            "http_calls_per_contact": round(common_total / n, 3),
            "audience_subscribed": common_subscribed,
        }
        return {
            "push_backfill": backfill_figure,
            "push_rerun": rerun_figure,
            "push_common_way": common_figure,
        }


def _split(total: float, aws: dict[str, float], http: float) -> dict[str, Any]:
    aws_seconds = sum(aws.values())
    return {
        "what": "client side: inside AWS API calls (serialise, send, parse), Mailchimp HTTP until "
        "the response headers (requests' elapsed), and the rest (product code, parsing, the double's body)",
        "aws_calls": round(aws_seconds, 3),
        "aws_calls_by_operation": {name: round(seconds, 3) for name, seconds in sorted(aws.items())},
        "mailchimp_http": round(http, 3),
        "rest": round(max(0.0, total - aws_seconds - http), 3),
    }


def _delta(double: MailchimpServer, before: Counter[tuple[str, str]]) -> dict[str, int]:
    after = Counter(double.calls)
    names = {BATCH: "batch", MEMBER: "member"}
    return {
        f"{method} {names.get(route, route)}": count - before.get((method, route), 0)
        for (method, route), count in sorted(after.items())
        if count - before.get((method, route), 0)
    }


def _dynamodb(calls: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in calls.items() if name.startswith("dynamodb.")}


def check_push(figures: dict[str, Any], check: Any) -> None:
    """The deterministic push checks; ``check(name, ok, detail)`` records each."""
    backfill = figures.get("push_backfill")
    rerun = figures.get("push_rerun")
    common = figures.get("push_common_way")
    if backfill is None or rerun is None or common is None:
        check("push figures produced", False, "missing")
        return
    n = backfill["contacts"]
    minimum = backfill["http_minimum_calls"]
    check(
        f"push backfill of {n}: HTTP calls <= ceil(N/500) = {minimum}",
        backfill["http_calls"] <= minimum,
        f"{backfill['http_calls']} calls {backfill['http_calls_by_route']}",
    )
    check(
        "push backfill: every message delivered",
        backfill["verdicts"] == {Verdict.DELIVERED.value: n} and backfill["sent"] == n,
        f"verdicts {backfill['verdicts']}, sent {backfill['sent']}",
    )
    check(
        "push backfill: every contact subscribed in the audience",
        backfill["audience_subscribed"] == n,
        f"{backfill['audience_subscribed']} of {n}",
    )
    check(
        "push rerun of the same batches: 0 HTTP calls",
        rerun["http_calls"] == 0,
        f"{rerun['http_calls']} calls {rerun['http_calls_by_route']}",
    )
    check(
        "push rerun: nothing written, every message settled",
        rerun["dynamodb"]["writes"] == 0 and rerun["verdicts"] == {Verdict.DELIVERED.value: n},
        f"writes {rerun['dynamodb']['writes']}, verdicts {rerun['verdicts']}",
    )
    check(
        "push common way: one call per contact, every contact subscribed",
        common["http_calls"] == n and common["audience_subscribed"] == n,
        f"{common['http_calls']} calls, {common['audience_subscribed']} subscribed, "
        f"statuses {common['http_statuses']}",
    )


def table_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    b = figures["push_backfill"]
    r = figures["push_rerun"]
    c = figures["push_common_way"]
    bd, rd = b["dynamodb"], r["dynamodb"]
    return [
        (
            f"push backfill to Mailchimp (n={b['contacts']}, {b['batches']} x {b['batch_size']})",
            f"{b['contacts_per_s']:.0f} contacts/s, {b['http_calls']} HTTP calls",
            f"common way: {c['contacts_per_s']:.0f} contacts/s, {c['http_calls']} HTTP calls",
            f"product {b['speedup_vs_common_way']:.2f}x the speed",
        ),
        (
            f"Mailchimp HTTP calls, backfill (n={b['contacts']})",
            f"{b['http_calls']} ({b['http_calls_per_contact']:.4f}/contact)",
            f"minimum ceil(n/500) = {b['http_minimum_calls']}; "
            f"common way {c['http_calls_per_contact']:.0f}/contact",
            f"{b['http_calls'] / b['http_minimum_calls']:.2f}x (target <= {b['http_target_at_most']} calls)",
        ),
        (
            "push backfill, where the time goes",
            f"AWS calls {b['seconds_split']['aws_calls']:.2f} s, Mailchimp HTTP "
            f"{b['seconds_split']['mailchimp_http']:.2f} s, rest {b['seconds_split']['rest']:.2f} s",
            f"common way: {c['seconds']:.2f} s, all HTTP",
            f"HTTP time {c['seconds'] / max(b['seconds_split']['mailchimp_http'], 1e-6):.0f}x less",
        ),
        (
            f"DynamoDB calls, push backfill (n={b['contacts']})",
            f"{bd['total_calls']} calls ({bd['calls_per_contact']:.4f}/contact)",
            f"minimum {bd['minimum_calls']} ({bd['minimum_per_contact']:.4f}/contact)",
            f"{bd['ratio_to_minimum']:.3f}x",
        ),
        (
            f"push rerun, same batches (n={r['contacts']})",
            f"{r['http_calls']} HTTP calls, {rd['writes']} writes, {r['contacts_per_s']:.0f} contacts/s",
            "target: 0 HTTP calls",
            "ok" if r["http_calls"] == 0 else "FAILED",
        ),
        (
            f"DynamoDB calls, push rerun (n={r['contacts']})",
            f"{rd['total_calls']} calls ({rd['calls_per_contact']:.4f}/contact)",
            f"minimum {rd['minimum_calls']} (destinations + push states)",
            f"{rd['ratio_to_minimum']:.3f}x",
        ),
    ]
