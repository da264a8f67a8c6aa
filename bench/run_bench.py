"""contactsync benchmarks against the real local stack; every figure is a ratio to a same-run reference.

    .venv/bin/python -m bench.run_bench [--smoke] [--million] [--sync-only] [--out bench/results.json]

1. Ingest over HTTP through the local gateway: single-contact requests (sequential, then 4 senders)
   against the same gateway calling a handler that only answers 202; 1,000-contact batches against
   the bare storage floor for the same number of new contacts.
2. AWS calls per contact of the ingest use case, in-process on real adapters (DynamoDB Local, moto),
   counted with a botocore event hook, next to the minimum the design's batch limits allow:
   new contacts, then the same contacts again unchanged; data_only and double_opt_in sources.
3. Storage time of that in-process run against the bare floor and against the common way (one
   PutItem and one SendMessage per contact).
4. Push (``bench.push``): a backfill of subscribed contacts to the Mailchimp-compatible double
   through ``DeliverChanges``, in batches of the Push queue's BatchSize, then the same batches again;
   Mailchimp HTTP calls and DynamoDB calls per contact, against the common way (one PUT per contact).
5. Sync (``bench.sync``): a data-only recurring import of 10,000 and 100,000 contacts (``--million``
   adds 1,000,000) from a streaming HTTP source, each run in a fresh interpreter into a fresh copy of
   the tables: time per contact, AWS calls per contact next to the minimum, peak memory, a rerun
   with nothing changed (no writes, no messages), against the storage floor and the bare reads.

Calls are deterministic, so ``--smoke`` checks them (within 1.1x of the minimum, no writes on an
unchanged rerun; a push backfill in at most ceil(N/500) HTTP calls, a rerun in none, every contact
subscribed in the audience; a sync of 2,000 within 1.1x of the minimum calls, its rerun with no
contact write and no message) and exits non-zero otherwise; no time is ever asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_start
from bench.calls import CallCounter, compare, minimum_for_new, minimum_for_unchanged
from bench.http_load import (
    FLOOR_FUNCTION_DIR,
    NULL_FUNCTION_DIR,
    LoadResult,
    QueuePurger,
    ReferenceGateway,
    run_load,
    warm_up,
)
from bench.push import PushBench, PushEnvironment, check_push
from bench.push import table_rows as push_table_rows
from bench.references import common_way, prepare_contacts, storage_floor_new, storage_floor_unchanged
from bench.sync import SyncBench, check_sync
from bench.sync import table_rows as sync_table_rows
from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
from contactsync.adapters.dynamodb_consent import DynamoConsentLedger, DynamoConsentTransactions
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.dynamodb_guards import DynamoRateLimiter, DynamoSuppressionList
from contactsync.adapters.secret_values import CachedSecret
from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.adapters.sqs_change_publisher import SqsChangePublisher, SqsOptInRequestPublisher
from contactsync.domain.source import ConsentMode, Source
from contactsync.use_cases.ingest_contacts import InboundRequest, IngestContacts, IngestDependencies
from contactsync.use_cases.manage_sources import ManageSources, SourceSettings
from contactsync_ops.local_stack.stack import LocalStack, LocalStackOptions

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
CALL_RATIO_TARGET = 1.1
SENDERS = 4
UNCHANGED_REPEATS = 3


@dataclass(frozen=True)
class Sizes:
    single_requests: int
    batches: int
    batch_size: int
    in_process_contacts: int
    push_contacts: int
    sync_contacts: tuple[int, ...]
    sync_floors: bool  # the storage floor and bare-read references (times only, so not in the smoke run)
    cold_start_runs: int  # fresh interpreters per cold-start figure (the median is kept)


FULL = Sizes(
    single_requests=300,
    batches=5,
    batch_size=1000,
    in_process_contacts=1000,
    push_contacts=10_000,
    sync_contacts=(10_000, 100_000),
    sync_floors=True,
    cold_start_runs=7,
)
SMOKE = Sizes(
    single_requests=20,
    batches=1,
    batch_size=100,
    in_process_contacts=100,
    push_contacts=600,
    sync_contacts=(2_000,),
    sync_floors=False,
    cold_start_runs=1,
)
MILLION = 1_000_000


class Bench:
    def __init__(self, stack: LocalStack, state: dict[str, Any]) -> None:
        assert stack.endpoints is not None
        self.stack = stack
        self.endpoints = stack.endpoints
        self.api_url: str = state["api_url"]
        resources = state["resources"]
        self.table: str = resources["ContactsTable"]
        self.push_queue: str = resources["PushQueue"]
        self.mail_queue: str = resources["MailQueue"]
        self.source_secret: str = resources["SourceSigningSecret"]
        self.suppression_secret: str = resources["SuppressionKeySecret"]
        self.destination_secret: str = resources["DestinationCredentialsSecret"]
        self.dynamodb = self.endpoints.dynamodb_client()
        self.sqs = self.endpoints.sqs_client()
        secrets = self.endpoints.secrets_manager_client()
        self.sources = DynamoSourceRepository(self.dynamodb, self.table)
        signing = SecretsManagerSourceSigningSecrets(secrets, self.source_secret)
        self.manage = ManageSources(self.sources, signing)
        self.run_id = uuid.uuid4().hex[:8]
        self.account_id: str = state["account_id"]
        self.region: str = state["region"]
        self.purger = QueuePurger(state["account_id"], state["region"], [self.push_queue, self.mail_queue])

    # ------------------------------------------------------------------ helpers
    def register(self, source_id: str, mode: ConsentMode) -> tuple[Source, str]:
        issued = self.manage.register(source_id, SourceSettings(name=f"bench {source_id}", consent_mode=mode))
        return issued.source, issued.credential

    def emails(self, tag: str, count: int) -> list[str]:
        return [f"{tag}-{self.run_id}-{index:07d}@example.com" for index in range(count)]

    def counted_use_case(self, counter: CallCounter) -> IngestContacts:
        """The ingest use case on real adapters, built as ``contactsync.wiring`` does (a fresh container)."""
        dynamodb = self.endpoints.dynamodb_client()
        sqs = self.endpoints.sqs_client()
        secrets = self.endpoints.secrets_manager_client()
        counter.attach(dynamodb, sqs, secrets)
        deps = IngestDependencies(
            sources=DynamoSourceRepository(dynamodb, self.table),
            contacts=DynamoContactRepository(dynamodb, self.table),
            changes=SqsChangePublisher(sqs, self.push_queue),
            opt_ins=SqsOptInRequestPublisher(sqs, self.mail_queue),
            suppression=DynamoSuppressionList(
                dynamodb, self.table, CachedSecret(secrets, self.suppression_secret)
            ),
            rate_limiter=DynamoRateLimiter(dynamodb, self.table),
            signing_secrets=SecretsManagerSourceSigningSecrets(secrets, self.source_secret),
            consent=DynamoConsentTransactions(
                dynamodb, self.table, DynamoConsentLedger(dynamodb, self.table)
            ),
        )
        return IngestContacts(deps)

    # ------------------------------------------------------------------ 1. HTTP ingest
    def http_single(self, sizes: Sizes) -> dict[str, Any]:
        """Single-contact webhooks against two references behind the same gateway and workers.

        The ceiling: a handler that only answers 202 (the issue's reference, and its 0.5x target).
        The storage floor: a handler that makes only the bare calls that store one new contact
        (``bench/floor_function``), so the ratio to it is what the product's own logic costs.
        """
        null_gateway = ReferenceGateway(self.stack, NULL_FUNCTION_DIR)
        floor_gateway = ReferenceGateway(self.stack, FLOOR_FUNCTION_DIR)
        null_url = null_gateway.start() + "/v1/sources/{}/contacts"
        floor_url = floor_gateway.start() + "/v1/sources/{}/contacts"
        product_url = self.api_url + "/v1/sources/{}/contacts"
        try:
            _, warm_token = self.register("bench-warm", ConsentMode.DATA_ONLY)
            headers = {"Authorization": f"Bearer {warm_token}", "Content-Type": "application/json"}
            for label, url in (("product", product_url), ("null", null_url), ("floor", floor_url)):
                warm_emails = self.emails(f"warm-{label}", 2 * SENDERS)  # the floor stores new contacts only
                warm_up(url.format("bench-warm"), lambda i, e=warm_emails: _single(e[i]), headers, SENDERS)

            figures: dict[str, Any] = {}
            for name, senders in (("ingest_single_sequential", 1), ("ingest_single_concurrent4", SENDERS)):
                source_id = f"bench-{'seq' if senders == 1 else 'con'}"
                _, token = self.register(source_id, ConsentMode.DATA_ONLY)
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                bodies = [_single(email) for email in self.emails(source_id, sizes.single_requests)]
                floor_bodies = [_single(e) for e in self.emails(f"{source_id}-floor", sizes.single_requests)]
                reference = run_load(null_url.format(source_id), bodies, headers, senders, _answered_202)
                self.purger.purge_now()
                floor = run_load(floor_url.format(source_id), floor_bodies, headers, senders, _answered_202)
                self.purger.purge_now()
                measured = run_load(product_url.format(source_id), bodies, headers, senders, _accepted(1))
                figures[name] = {
                    "senders": senders,
                    **measured.summary(),
                    "reference": {
                        "what": "same local gateway and workers, handler that only returns 202",
                        **reference.summary(),
                    },
                    "ratio_to_reference": round(measured.requests_per_s / reference.requests_per_s, 3),
                    "p50_ratio_to_reference": round(measured.percentile(50) / reference.percentile(50), 2),
                    "target_ratio_at_least": 0.5,
                    "storage_floor": {
                        "what": "same local gateway and workers, handler making only the bare calls that "
                        "store one new contact (2 BatchGetItem, 1 TransactWriteItems, 1 SendMessageBatch)",
                        **floor.summary(),
                    },
                    "ratio_to_storage_floor": round(measured.requests_per_s / floor.requests_per_s, 3),
                }
            return figures
        finally:
            null_gateway.stop()
            floor_gateway.stop()

    def http_batches(self, sizes: Sizes, floor_contacts_per_s: float) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        url = self.api_url + "/v1/sources/{}/contacts"
        runs = (
            ("ingest_batch", ConsentMode.DATA_ONLY, sizes.batches),
            ("ingest_batch_double_opt_in", ConsentMode.DOUBLE_OPT_IN, 1),
        )
        for name, mode, batches in runs:
            source_id = "bench-batch" if mode is ConsentMode.DATA_ONLY else "bench-batch-doi"
            _, token = self.register(source_id, mode)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            emails = self.emails(source_id, batches * sizes.batch_size)
            bodies = [
                json.dumps([_contact(email) for email in emails[start : start + sizes.batch_size]])
                for start in range(0, len(emails), sizes.batch_size)
            ]
            per_batch = []
            for body in bodies:
                self.purger.purge_now()  # outside the clock
                per_batch.append(
                    run_load(url.format(source_id), [body], headers, 1, _accepted(sizes.batch_size))
                )
            measured = _merge(per_batch)
            all_accepted = set(measured.statuses) == {202}
            contacts_per_s = len(emails) / measured.seconds if all_accepted else None
            figures[name] = {
                "consent_mode": mode.value,
                "batches": batches,
                "batch_size": sizes.batch_size,
                "largest_body_bytes": max(len(body.encode()) for body in bodies),
                **measured.summary(),
                "contacts_per_s": None if contacts_per_s is None else round(contacts_per_s, 1),
                "reference": {
                    "what": "bare minimum DynamoDB/SQS calls for as many new contacts, in-process, no logic",
                    "contacts_per_s": round(floor_contacts_per_s, 1),
                },
                "ratio_to_reference": None
                if contacts_per_s is None
                else round(contacts_per_s / floor_contacts_per_s, 3),
            }
        return figures

    # ------------------------------------------------------------------ 2-3. in-process calls and storage
    def in_process(self, sizes: Sizes) -> dict[str, Any]:
        n = sizes.in_process_contacts
        counter = CallCounter()
        calls: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        for mode in (ConsentMode.DATA_ONLY, ConsentMode.DOUBLE_OPT_IN):
            slug = mode.value.replace("_", "-")
            source, token = self.register(f"bench-inproc-{slug}", mode)
            request = InboundRequest(
                source_id=source.source_id, headers={"authorization": f"Bearer {token}"}, raw_body=""
            )
            # A fresh container, warmed on a few other contacts: the figures are the steady state, and
            # what the first request of a container costs on top is reported apart.
            use_case = self.counted_use_case(counter)
            counter.reset()
            use_case.execute(source, [_contact(e) for e in self.emails(f"warm-{slug}", 5)], request)
            calls[f"{mode.value}_cold_container_warm_up"] = {
                "what": "first execute() of a container, 5 new contacts (secrets are then cached)",
                "calls": counter.snapshot(),
            }
            payloads = [_contact(email) for email in self.emails(f"inproc-{slug}", n)]
            mails = mode is ConsentMode.DOUBLE_OPT_IN
            for run, minimum, repeats in (
                ("new", minimum_for_new(n, opt_in_mails=mails), 1),
                ("unchanged", minimum_for_unchanged(n), UNCHANGED_REPEATS),
            ):
                best = math.inf
                for attempt in range(repeats):  # an unchanged rerun changes nothing: repeat, keep the best
                    self.purger.purge_now()
                    counter.reset()
                    started = time.perf_counter()
                    outcome = use_case.execute(source, payloads, request)
                    best = min(best, time.perf_counter() - started)
                    if attempt == 0:
                        counted = counter.snapshot()
                        first_outcome = outcome
                rejected = [o for o in first_outcome.outcomes if not o.accepted]
                if rejected:
                    raise RuntimeError(f"{len(rejected)} contacts rejected: {rejected[0].problems}")
                figure = compare(counted, minimum, n)
                figure["changes_queued"] = len(first_outcome.changes)
                figure["opt_ins_queued"] = len(first_outcome.opt_in_requests)
                figure["seconds"] = round(best, 4)
                calls[f"{mode.value}_{run}"] = figure
                seconds[f"{mode.value}_{run}"] = best
            counter.reset()
            use_case.authenticate(request)
            calls[f"{mode.value}_per_request_overhead"] = {
                "what": "authenticate(): once per HTTP request, not per contact",
                "calls": counter.snapshot(),
            }
            # What one single-contact webhook costs in AWS calls (authenticate, then execute).
            counter.reset()
            use_case.authenticate(request)
            use_case.execute(source, [_contact(self.emails(f"single-{slug}", 1)[0])], request)
            calls[f"{mode.value}_single_contact_request"] = {
                **compare(counter.snapshot(), minimum_for_new(1, opt_in_mails=mails), 1),
                "what": "one request with one new contact: authenticate() + execute(); no 1.1x target",
            }

        # The references, on their own new contacts: the bare floor, then the common way.
        floor_contacts = prepare_contacts(self.emails("floor", n), "bench-floor")
        self.purger.purge_now()
        floor_new = storage_floor_new(self.dynamodb, self.sqs, self.table, self.push_queue, floor_contacts)
        floor_unchanged = min(
            storage_floor_unchanged(self.dynamodb, self.table, floor_contacts)
            for _ in range(UNCHANGED_REPEATS)
        )
        common_contacts = prepare_contacts(self.emails("common", n), "bench-common")
        common_counter = CallCounter()
        dynamodb, sqs = self.endpoints.dynamodb_client(), self.endpoints.sqs_client()
        common_counter.attach(dynamodb, sqs)
        self.purger.purge_now()
        common = common_way(dynamodb, sqs, self.table, self.push_queue, common_contacts)
        product_new = seconds["data_only_new"]
        product_unchanged = seconds["data_only_unchanged"]
        new_minimum = minimum_for_new(n, opt_in_mails=False)
        storage = {
            "contacts": n,
            "product_seconds": round(product_new, 3),
            "product_calls": calls["data_only_new"]["total_calls"],
            "floor_seconds": round(floor_new, 4),
            "floor_calls": sum(new_minimum.values()),
            "ratio_to_floor": round(product_new / floor_new, 2),
            "target_ratio_to_floor_at_most": 1.5,
            "common_way_seconds": round(common, 3),
            "common_way_calls": sum(common_counter.snapshot().values()),
            "common_way_calls_by_operation": common_counter.snapshot(),
            "speedup_vs_common_way": round(common / product_new, 2),
        }
        unchanged = {
            "contacts": n,
            "product_seconds": round(product_unchanged, 4),
            "product_writes": calls["data_only_unchanged"]["writes"],
            "floor_seconds": round(floor_unchanged, 4),
            "ratio_to_floor": round(product_unchanged / floor_unchanged, 2),
            "target_ratio_to_floor_at_most": 1.5,
        }
        return {
            "calls_per_contact": calls,
            "storage_new_vs_references": storage,
            "storage_unchanged_vs_floor": unchanged,
            "floor_contacts_per_s": n / floor_new,
        }

    # ------------------------------------------------------------------ 4. push
    def push(self, sizes: Sizes) -> dict[str, Any]:
        environment = PushEnvironment(
            endpoints=self.endpoints,
            table=self.table,
            destination_secret=self.destination_secret,
            run_id=self.run_id,
        )
        return PushBench(environment).run(sizes.push_contacts)

    # ------------------------------------------------------------------ 5. sync
    def sync(self, sizes: Sizes, *, tracemalloc: bool = False) -> dict[str, Any]:
        bench = SyncBench(self.endpoints, self.account_id, self.region, tracemalloc=tracemalloc)
        return bench.run(list(sizes.sync_contacts), floors=sizes.sync_floors)


def _merge(results: list[LoadResult]) -> LoadResult:
    statuses: dict[int, int] = {}
    for result in results:
        for code, count in result.statuses.items():
            statuses[code] = statuses.get(code, 0) + count
    return LoadResult(
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        latencies_ms=[latency for r in results for latency in r.latencies_ms],
        statuses=statuses,
    )


def _contact(email: str) -> dict[str, str]:
    return {"email": email, "first_name": "Ada", "last_name": "Lovelace"}


def _single(email: str) -> str:
    return json.dumps(_contact(email))


def _answered_202(response: Any) -> bool:
    return bool(response.status_code == 202)


def _accepted(expected: int) -> Any:
    def check(response: Any) -> bool:
        return bool(response.status_code == 202 and response.json().get("accepted") == expected)

    return check


# ---------------------------------------------------------------------- checks, table, machine
REQUIRED_FIGURES: dict[str, tuple[str, ...]] = {
    "ingest_single_sequential": (
        "requests_per_s",
        "p50_ms",
        "p99_ms",
        "ratio_to_reference",
        "ratio_to_storage_floor",
    ),
    "ingest_single_concurrent4": (
        "requests_per_s",
        "p50_ms",
        "p99_ms",
        "ratio_to_reference",
        "ratio_to_storage_floor",
    ),
    "ingest_batch": ("contacts_per_s", "ratio_to_reference"),
    "ingest_batch_double_opt_in": ("contacts_per_s", "ratio_to_reference"),
    "storage_new_vs_references": ("ratio_to_floor", "speedup_vs_common_way", "common_way_calls"),
    "storage_unchanged_vs_floor": ("ratio_to_floor",),
    "push_backfill": ("contacts_per_s", "http_calls", "speedup_vs_common_way"),
    "push_common_way": ("contacts_per_s", "http_calls"),
}
CALL_FIGURES = ("data_only_new", "data_only_unchanged", "double_opt_in_new", "double_opt_in_unchanged")
SECTIONS = ("cold_start", "ingest", "sync")  # "ingest" stands for sections 1-4


def run_checks(
    figures: dict[str, Any], sections: tuple[str, ...] = SECTIONS, *, smoke: bool = False
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    if "cold_start" in sections:
        cold_start.check_cold_start(figures, check, enforce_target=smoke is False)
    if "sync" in sections:
        check_sync(figures, check)
    if "ingest" not in sections:
        return checks
    for figure, keys in REQUIRED_FIGURES.items():
        values = figures.get(figure, {})
        missing = [k for k in keys if not _positive_number(values.get(k))]
        check(f"{figure} produced", not missing, f"missing or not positive: {missing}" if missing else "ok")
        statuses = values.get("statuses", {})
        bad = {code: count for code, count in statuses.items() if code != "202"}
        if statuses:
            check(f"{figure} all accepted", not bad, f"statuses {statuses}")
    calls = figures.get("calls_per_contact", {})
    for name in CALL_FIGURES:
        figure = calls.get(name)
        if figure is None:
            check(f"calls {name} produced", False, "missing")
            continue
        ratio = figure["ratio_to_minimum"]
        check(
            f"calls {name} within {CALL_RATIO_TARGET}x of minimum",
            ratio is not None and ratio <= CALL_RATIO_TARGET,
            f"{figure['total_calls']} calls, minimum {figure['minimum_calls']}, ratio {ratio}",
        )
        if name.endswith("_unchanged"):
            check(
                f"calls {name} write and queue nothing",
                figure["writes"] == 0 and figure["messages_calls"] == 0,
                f"writes {figure['writes']}, message calls {figure['messages_calls']}",
            )
        else:
            check(
                f"calls {name} queued every change",
                figure["changes_queued"] == figure["contacts"],
                f"{figure['changes_queued']} changes for {figure['contacts']} contacts",
            )
    check_push(figures, check)
    return checks


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def machine_facts() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "git_commit": commit or None,
    }


def table(results: dict[str, Any]) -> str:
    f = results["figures"]
    rows: list[tuple[str, str, str, str]] = cold_start.table_rows(f)
    if "ingest_single_sequential" in f:
        rows.extend(_ingest_rows(f))
    rows.extend(sync_table_rows(f))
    header = ("figure", "measured", "reference (same run)", "ratio")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _ingest_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for name, label in (
        ("ingest_single_sequential", "single contact, 1 sender"),
        ("ingest_single_concurrent4", "single contact, 4 senders"),
    ):
        x = f[name]
        r = x["reference"]
        rows.append(
            (
                f"{label} (n={x['requests']})",
                f"{x['requests_per_s']:.0f} req/s, p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms",
                f"202-only: {r['requests_per_s']:.0f} req/s, p50 {r['p50_ms']:.1f} ms",
                f"{x['ratio_to_reference']:.2f}x (target >= 0.5x)",
            )
        )
        if "storage_floor" in x:
            floor = x["storage_floor"]
            rows.append(
                (
                    f"  same, against the storage floor (n={x['requests']})",
                    f"{x['requests_per_s']:.0f} req/s",
                    f"bare calls: {floor['requests_per_s']:.0f} req/s, p50 {floor['p50_ms']:.1f} ms",
                    f"{x['ratio_to_storage_floor']:.2f}x",
                )
            )
    for name, label in (("ingest_batch", "batches, data_only"), ("ingest_batch_double_opt_in", "batch, DOI")):
        x = f[name]
        failed = x["contacts_per_s"] is None
        rows.append(
            (
                f"{label} ({x['batches']} x {x['batch_size']})",
                f"FAILED: statuses {x['statuses']}" if failed else f"{x['contacts_per_s']:.0f} contacts/s",
                f"storage floor: {x['reference']['contacts_per_s']:.0f} contacts/s",
                "-" if failed else f"{x['ratio_to_reference']:.2f}x",
            )
        )
    for name, figure in f["calls_per_contact"].items():
        if "ratio_to_minimum" not in figure or "single_contact" in name:
            continue
        rows.append(
            (
                f"AWS calls, {name} (n={figure['contacts']})",
                f"{figure['total_calls']} calls ({figure['calls_per_contact']:.3f}/contact)",
                f"minimum {figure['minimum_calls']} ({figure['minimum_per_contact']:.3f}/contact)",
                f"{figure['ratio_to_minimum']:.3f}x (target <= {CALL_RATIO_TARGET}x)",
            )
        )
    s = f["storage_new_vs_references"]
    rows.append(
        (
            f"store {s['contacts']} new, in-process",
            f"{s['product_seconds']:.3f} s, {s['product_calls']} calls",
            f"floor {s['floor_seconds']:.3f} s, {s['floor_calls']} calls",
            f"{s['ratio_to_floor']:.2f}x (target <= 1.5x)",
        )
    )
    rows.append(
        (
            "same, the common way",
            f"{s['common_way_seconds']:.3f} s, {s['common_way_calls']} calls",
            f"product {s['product_seconds']:.3f} s",
            f"product {s['speedup_vs_common_way']:.1f}x faster",
        )
    )
    u = f["storage_unchanged_vs_floor"]
    rows.append(
        (
            f"rerun {u['contacts']} unchanged",
            f"{u['product_seconds']:.3f} s, {u['product_writes']} writes",
            f"floor {u['floor_seconds']:.3f} s",
            f"{u['ratio_to_floor']:.2f}x (target <= 1.5x)",
        )
    )
    rows.extend(push_table_rows(f))
    return rows


# ---------------------------------------------------------------------- main
class _RedirectedStdout:
    """Points file descriptor 1 (inherited by the function workers) at a log file, and back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: int | None = None

    def start(self) -> None:
        sys.stdout.flush()
        self._saved = os.dup(1)
        target = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(target, 1)
        os.close(target)

    def stop(self) -> None:
        if self._saved is None:
            return
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._saved = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"


def run(
    sizes: Sizes, mode: str, sections: tuple[str, ...] = SECTIONS, *, tracemalloc: bool = False
) -> dict[str, Any]:
    started = time.monotonic()
    figures: dict[str, Any] = {}
    phases: dict[str, float] = {}
    if "cold_start" in sections:  # fresh interpreters, before the stack takes the CPU
        figures["cold_start"] = cold_start.measure(runs=sizes.cold_start_runs)
        phases["cold_start"] = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="contactsync-bench-") as state_dir:
        options = LocalStackOptions(
            state_dir=Path(state_dir),
            in_memory=True,
            gateway_port=0,
            dynamodb_port=0,
            moto_port=0,
            enable_schedules=False,
            batching_window_seconds=1,
        )
        stack = LocalStack(options)
        purger: QueuePurger | None = None
        output = _RedirectedStdout(Path(state_dir) / "stack-output.log")
        output.start()  # the function workers log to the inherited stdout: keep the table readable
        try:
            state = stack.start()
            # Push consumes the push queue in worker processes; stop its pollers so it does not compete
            # with ingest for the CPU. Ingest still queues every change (the calls are counted).
            for poller in stack.pollers:
                poller.stop()
            stack.pollers = []
            phases["stack_start"] = time.monotonic() - started - phases.get("cold_start", 0.0)
            bench = Bench(stack, state)
            purger = bench.purger
            purger.start()
            mark = time.monotonic()
            if "ingest" in sections:
                in_process = bench.in_process(sizes)
                phases["in_process"], mark = time.monotonic() - mark, time.monotonic()
                single = bench.http_single(sizes)
                phases["http_single"], mark = time.monotonic() - mark, time.monotonic()
                batches = bench.http_batches(sizes, in_process.pop("floor_contacts_per_s"))
                phases["http_batches"], mark = time.monotonic() - mark, time.monotonic()
                push = bench.push(sizes)
                phases["push"], mark = time.monotonic() - mark, time.monotonic()
                figures.update({**single, **batches, **in_process, **push})
            if "sync" in sections:
                figures.update(bench.sync(sizes, tracemalloc=tracemalloc))
                phases["sync"] = time.monotonic() - mark
        except BaseException:
            output.stop()
            print(f"the bench failed; last lines of the stack's output:\n{output.tail()}", file=sys.stderr)
            raise
        finally:
            if purger is not None:
                purger.stop()
            stack.stop()
            output.stop()
    results: dict[str, Any] = {
        "mode": mode,
        "machine": machine_facts(),
        "setup": {
            "stack": "LocalStack in-process: DynamoDB Local (in memory), moto server, local API gateway",
            "lambda_max_concurrency": options.max_concurrency,
            "push_pollers": "stopped during the bench, so Push does not compete with ingest for the CPU",
            "queues": "push and mail queues emptied (in moto's backend) every 0.2 s and before each timed "
            "run: moto's SendMessage(Batch) slows linearly with queue depth, which real SQS does not",
            "push": "in-process DeliverChanges (wired as contactsync.wiring.deliver_changes) against "
            "DynamoDB Local, moto's Secrets Manager and tests.doubles.mailchimp_server in this process; "
            "contacts stored with create_many outside the clock, one backfill message per contact, "
            "batches of the Push queue's BatchSize (500)",
            "phase_seconds": {name: round(value, 2) for name, value in phases.items()},
            "sync": "each run in a fresh interpreter (python -m bench.sync_child) wired as the Sync "
            "function, into its own copy of the template's tables; source: bench.streaming_source "
            "(pages generated on request, served from the bench process); push queue emptied as above",
            "sections": list(sections),
            "sizes": asdict(sizes),
        },
        "figures": figures,
    }
    results["checks"] = run_checks(figures, sections, smoke=mode == "smoke")
    results["ok"] = all(c["ok"] for c in results["checks"])
    results["total_seconds"] = round(time.monotonic() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes; checks figures and call ratios")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results JSON (default {DEFAULT_OUT})")
    parser.add_argument("--million", action="store_true", help="sync 1,000,000 contacts too (long)")
    parser.add_argument("--sync-only", action="store_true", help="only the sync section (5)")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="only these sections (repeatable; default: all)"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="sync runs also report tracemalloc's peak (slows them)"
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sizes = SMOKE if arguments.smoke else FULL
    if arguments.million:
        sizes = replace(sizes, sync_contacts=(*sizes.sync_contacts, MILLION))
    sections = ("sync",) if arguments.sync_only else tuple(arguments.only or SECTIONS)
    mode = "smoke" if arguments.smoke else "full"
    results = run(sizes, mode, sections, tracemalloc=arguments.tracemalloc)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    m = results["machine"]
    print(f"contactsync bench ({results['mode']}): {m['nproc']} CPUs, Python {m['python']}, {m['date']}")
    print(table(results))
    failed = [c for c in results["checks"] if not c["ok"]]
    for failure in failed:
        print(f"FAILED: {failure['name']}: {failure['detail']}", file=sys.stderr)
    print(f"{len(results['checks']) - len(failed)}/{len(results['checks'])} checks ok; wrote {arguments.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
