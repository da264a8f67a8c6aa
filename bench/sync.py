"""Recurring imports (the Sync function): a data-only HTTP JSON job of N contacts, run twice.

For each size N, against the bench's local stack (DynamoDB Local in memory, moto):

1. A fresh copy of template.yaml's tables, queues and secrets (``provision_stack`` under a unique
   stack name), a streaming HTTP source of N contacts (``bench.streaming_source``: page-number
   pagination, pages of ``PAGE_SIZE``, served from this process), and a data-only job (no consent
   basis) added and started with ``ManageImportJobs``, as ``contactsync.wiring.manage_import_jobs``
   builds it.
2. First run: ``RunImport.run_slice`` in a fresh interpreter (``bench.sync_child``) built by the Sync
   function's own wiring, so its peak memory (``ru_maxrss``) is that run's alone.
3. Reruns of the same job, nothing changed, each in another fresh interpreter, ``RERUN_REPEATS``
   times, each followed by its reference: the bare BatchGetItem reads over the rerun's very keys
   (same table, fresh interpreter). The figures are the median rerun and the median floor.
4. The storage floor (``bench.references.storage_floor_new``) over the
   same addresses, page by page, into another fresh copy of the tables.

Calls are counted per operation with a botocore hook in the child. Calls on the run's own item
(``RUN#``) and the job's (``JOB#``) are the import's bookkeeping, counted and compared apart:
one checkpoint PutItem per page read, plus per slice one GetItem of the run, one of the job, and a
PutItem each to mark the run running and finished. (The product reads the run once per slice, not
once per page, so no per-page GetItem is in that minimum.) The contact minimum is
``bench.calls.minimum_for_new`` (guards and suppression list by BatchGetItem of 100, two items
per new contact in TransactWriteItems of 100, SendMessageBatch of 10) plus the suppression key
(one GetSecretValue per container); for an unchanged rerun, ``minimum_for_unchanged`` (guards and
contacts by BatchGetItem of 100). The source's pages are read as the connector reads them: it stops
at a page shorter than the page size, so when N is a multiple of it one more, empty, page is read.

The push queue of each copy is emptied in moto's backend while a run goes on (``QueuePurger``):
moto's SendMessageBatch slows with queue depth, which real SQS does not.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.calls import compare, minimum_for_new, minimum_for_unchanged
from bench.http_load import QueuePurger
from bench.streaming_source import StreamingContactsApi
from contactsync.adapters.dynamodb_import_jobs import DynamoImportJobs, DynamoJobRuns
from contactsync.adapters.sqs_change_publisher import SqsRunQueue
from contactsync.domain.import_jobs import HttpJsonSourceSettings, ImportJob, Pagination
from contactsync.use_cases.run_imports import ManageImportJobs
from contactsync_ops.local_stack.provisioning import ProvisionedResources, provision_stack
from contactsync_ops.local_stack.template_model import LocalTemplate, load_local_template

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
PAGE_SIZE = 500
JOB_ID = "bench-sync"
RERUN_REPEATS = 3
CHILD_TIMEOUT_SECONDS = 3 * 3600
CONTACT_WRITES = frozenset(
    {"dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem", "dynamodb.BatchWriteItem"}
    | {"dynamodb.TransactWriteItems"}
)
MESSAGE_CALLS = frozenset({"sqs.SendMessage", "sqs.SendMessageBatch"})
TIME_PER_CONTACT_TARGET = 1.3
MEMORY_TARGET = 1.2
FLOOR_TARGET = 1.5


def pages_read(contacts: int, page_size: int = PAGE_SIZE) -> int:
    """Pages the connector reads: it stops at the first page shorter than the page size (maybe empty)."""
    return contacts // page_size + 1


def bookkeeping_minimum(contacts: int) -> dict[str, int]:
    """The run's own calls: a checkpoint per page, and per slice: read run and job, mark running, finish."""
    return {
        "dynamodb.GetItem[run]": 1,
        "dynamodb.GetItem[job]": 1,
        "dynamodb.PutItem[run]": pages_read(contacts) + 2,
    }


def contact_minimum_new(contacts: int) -> dict[str, int]:
    return {**minimum_for_new(contacts, opt_in_mails=False), "secrets-manager.GetSecretValue": 1}


def contact_minimum_unchanged(contacts: int) -> dict[str, int]:
    return minimum_for_unchanged(contacts)


def _bookkeeping(name: str) -> bool:
    return name.endswith("[run]") or name.endswith("[job]")


@dataclass(frozen=True)
class StackCopy:
    template: LocalTemplate
    resources: ProvisionedResources

    @property
    def table(self) -> str:
        return self.resources.tables["ContactsTable"].name

    def queue_url(self, logical_id: str) -> str:
        return self.resources.queues[logical_id].url


class SyncBench:
    def __init__(self, endpoints: Any, account_id: str, region: str, *, tracemalloc: bool = False) -> None:
        self.endpoints = endpoints
        self.account_id = account_id
        self.region = region
        self.tracemalloc = tracemalloc
        self.dynamodb = endpoints.dynamodb_client()
        self.sqs = endpoints.sqs_client()
        self.tag = uuid.uuid4().hex[:6]

    # ------------------------------------------------------------------ setup (outside any clock)
    def _provision(self, label: str) -> StackCopy:
        template = load_local_template(
            TEMPLATE_PATH,
            stack_name=f"bench-{label}-{self.tag}",
            region=self.region,
            account_id=self.account_id,
            sqs_endpoint_url=self.endpoints.moto,
        )
        return StackCopy(template, provision_stack(template, self.endpoints, max_visibility_timeout=2))

    def _drop(self, copy: StackCopy) -> None:
        """Free DynamoDB Local's memory once a size is measured."""
        for table in copy.resources.tables.values():
            self.dynamodb.delete_table(TableName=table.name)

    def _purger(self, copy: StackCopy) -> QueuePurger:
        urls = [copy.queue_url(q) for q in ("PushQueue", "MailQueue") if q in copy.resources.queues]
        return QueuePurger(self.account_id, self.region, urls)

    def _manage(self, copy: StackCopy) -> ManageImportJobs:
        return ManageImportJobs(
            jobs=DynamoImportJobs(self.dynamodb, copy.table),
            runs=DynamoJobRuns(self.dynamodb, copy.table),
            queue=SqsRunQueue(self.sqs, copy.queue_url("SyncQueue")),
        )

    def _child(self, step: str, copy: StackCopy, **spec: Any) -> dict[str, Any]:
        """Run one step in a fresh interpreter with the Sync function's environment; its figures."""
        environment = {
            **os.environ,
            **self.endpoints.aws_environment(),
            **dict(copy.template.functions["SyncFunction"].environment),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        with tempfile.TemporaryDirectory(prefix="contactsync-sync-bench-") as scratch:
            out = Path(scratch) / "figures.json"
            argument = json.dumps({"step": step, "out": str(out), **spec})
            done = subprocess.run(
                # Through sh, which forks the interpreter: an exec'd child inherits in ru_maxrss the
                # peak RSS of the process that forked it (this bench, hundreds of MB), a fork of sh
                # only sh's few MB. So the child's ru_maxrss is its own.
                ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-m", "bench.sync_child", argument],
                cwd=PROJECT_ROOT,
                env=environment,
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT_SECONDS,
                check=False,
            )
            if done.returncode != 0 or not out.exists():
                detail = done.stderr[-3000:]
                raise RuntimeError(f"sync bench step {step} failed ({done.returncode}):\n{detail}")
            figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
            return figures

    # ------------------------------------------------------------------ one size
    def run_size(self, n: int, *, floors: bool) -> dict[str, Any]:
        copy = self._provision(f"sync{n}")
        purger = self._purger(copy)
        purger.start()
        try:
            with StreamingContactsApi(n) as source:
                manage = self._manage(copy)
                manage.add(
                    ImportJob(
                        job_id=JOB_ID,
                        name=f"bench sync of {n}",
                        connector=HttpJsonSourceSettings(
                            url=source.url, pagination=Pagination.PAGE_NUMBER, page_size=PAGE_SIZE
                        ),
                        permission_confirmed=True,
                        created_at=datetime.now(UTC),
                    )
                )

                def sync_run() -> dict[str, Any]:
                    run_id = manage.run_now(JOB_ID).run_id
                    purger.purge_now()
                    figures = self._child("sync", copy, run_id=run_id, tracemalloc=self.tracemalloc)
                    figures["source_requests"] = source.take_requests()
                    return figures

                first = sync_run()
                # A rerun changes nothing, so it is repeated, each time next to its floor: a few seconds
                # on a shared machine move by a third from one measure to the next.
                reruns: list[dict[str, Any]] = []
                floors_unchanged: list[dict[str, Any]] = []
                for _ in range(RERUN_REPEATS):
                    reruns.append(sync_run())
                    if floors:
                        floors_unchanged.append(
                            self._child(
                                "floor_unchanged", copy, table=copy.table, contacts=n, page_size=PAGE_SIZE
                            )
                        )
            rerun = _median_by_seconds(reruns)
            floor_unchanged = _median_by_seconds(floors_unchanged) if floors else None
        finally:
            purger.stop()
            self._drop(copy)
        floor_new = None
        if floors:
            floor_copy = self._provision(f"floor{n}")
            floor_purger = self._purger(floor_copy)
            floor_purger.start()
            try:
                floor_new = self._child(
                    "floor_new",
                    floor_copy,
                    table=floor_copy.table,
                    queue_url=floor_copy.queue_url("PushQueue"),
                    contacts=n,
                    page_size=PAGE_SIZE,
                    source_id=f"job-{JOB_ID}",
                )
            finally:
                floor_purger.stop()
                self._drop(floor_copy)
        rerun_figure = _run_figure(n, rerun, contact_minimum_unchanged(n), floor_unchanged)
        rerun_figure["repeats"] = {
            "what": f"{RERUN_REPEATS} reruns, each followed by its floor; the figure is each side's median",
            "product_seconds": [round(run["seconds"], 3) for run in reruns],
            "floor_seconds": [round(run["seconds"], 3) for run in floors_unchanged],
        }
        return {"new": _run_figure(n, first, contact_minimum_new(n), floor_new), "rerun": rerun_figure}

    def run(self, sizes: list[int], *, floors: bool) -> dict[str, Any]:
        by_size = {str(n): self.run_size(n, floors=floors) for n in sizes}
        return {
            "sync": {
                "what": "data-only HTTP JSON import job (page-number pagination, pages of "
                f"{PAGE_SIZE}) through RunImport.run_slice in a fresh interpreter per run, wired as "
                "the Sync function; each size in its own fresh copy of the template's tables",
                "page_size": PAGE_SIZE,
                "sizes": by_size,
                "scale": _scale(by_size),
            }
        }


def _median_by_seconds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose time is the median (an odd number of runs: one of them, not an average)."""
    return sorted(runs, key=lambda run: float(run["seconds"]))[len(runs) // 2]


def _run_figure(
    n: int, child: dict[str, Any], contact_minimum: dict[str, int], floor: dict[str, Any] | None
) -> dict[str, Any]:
    calls: dict[str, int] = child["calls"]
    contact_calls = {name: count for name, count in calls.items() if not _bookkeeping(name)}
    bookkeeping_calls = {name: count for name, count in calls.items() if _bookkeeping(name)}
    seconds = child["seconds"]
    figure: dict[str, Any] = {
        "contacts": n,
        "status": child["status"],
        "error": child["error"],
        "counters": child["counters"],
        "source_requests": child["source_requests"],
        "seconds": round(seconds, 3),
        "contacts_per_s": round(n / seconds, 1),
        "ms_per_contact": round(1000 * seconds / n, 4),
        "calls": calls,
        "contact_calls": compare(contact_calls, contact_minimum, n),
        "bookkeeping_calls": compare(bookkeeping_calls, bookkeeping_minimum(n), n),
        "all_calls": compare(calls, {**contact_minimum, **bookkeeping_minimum(n)}, n),
        "contact_writes": sum(count for name, count in calls.items() if name in CONTACT_WRITES),
        "contact_writes_what": "TransactWriteItems, PutItem, UpdateItem, DeleteItem, BatchWriteItem on any "
        "item but the run's and the job's (their checkpoint PutItem per page is bookkeeping)",
        "message_calls": sum(count for name, count in calls.items() if name in MESSAGE_CALLS),
        "memory": {
            "what": "max_rss: ru_maxrss of the child interpreter (whole life; started through sh so "
            "that it is not the bench's own); max_rss_imports: its peak RSS (VmHWM) after imports and "
            "wiring, before the run; "
            "max_rss_run: peak RSS during the run alone (VmHWM, reset through /proc/self/clear_refs "
            "just before it); run_added: max_rss_run minus the RSS just before the run",
            "max_rss_mb": _mb(child["max_rss_kb"]),
            "max_rss_mb_imports": _mb(child["max_rss_kb_imports"]),
            "rss_mb_before_run": _mb(child["rss_kb_before_run"]),
            "max_rss_mb_run": _mb(child["max_rss_kb_run"]),
            "run_added_mb": None
            if child["max_rss_kb_run"] is None or child["rss_kb_before_run"] is None
            else _mb(child["max_rss_kb_run"] - child["rss_kb_before_run"]),
            "tracemalloc_peak_mb": None
            if child.get("tracemalloc_peak_bytes") is None
            else round(child["tracemalloc_peak_bytes"] / 2**20, 1),
        },
    }
    if floor is not None:
        figure["floor"] = {
            "what": "bare minimum calls over the same items, no logic, page by page, fresh interpreter",
            "seconds": round(floor["seconds"], 3),
            "calls": floor["calls"],
            "ms_per_contact": round(1000 * floor["seconds"] / n, 4),
        }
        figure["ratio_to_floor"] = round(seconds / floor["seconds"], 2)
        figure["target_ratio_to_floor_at_most"] = FLOOR_TARGET
    return figure


def _mb(kilobytes: int | None) -> float | None:
    return None if kilobytes is None else round(kilobytes / 1024, 1)


def _scale(by_size: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sizes = sorted(int(n) for n in by_size)
    if len(sizes) < 2:
        return {}
    base = by_size[str(sizes[0])]["new"]
    scale: dict[str, Any] = {"reference_contacts": sizes[0]}
    for n in sizes[1:]:
        run = by_size[str(n)]["new"]
        entry: dict[str, Any] = {
            "time_per_contact_ratio": round(run["ms_per_contact"] / base["ms_per_contact"], 2),
            "target_time_per_contact_ratio_at_most": TIME_PER_CONTACT_TARGET,
            "peak_memory_ratio": round(run["memory"]["max_rss_mb"] / base["memory"]["max_rss_mb"], 2),
            "target_peak_memory_ratio_at_most": MEMORY_TARGET,
            "run_peak_memory_ratio": None
            if run["memory"]["max_rss_mb_run"] is None or not base["memory"]["max_rss_mb_run"]
            else round(run["memory"]["max_rss_mb_run"] / base["memory"]["max_rss_mb_run"], 2),
            "run_added_memory_mb": [base["memory"]["run_added_mb"], run["memory"]["run_added_mb"]],
        }
        if "floor" in run and "floor" in base:
            entry["floor_time_per_contact_ratio"] = round(
                run["floor"]["ms_per_contact"] / base["floor"]["ms_per_contact"], 2
            )
        scale[str(n)] = entry
    return scale


def check_sync(figures: dict[str, Any], check: Any) -> None:
    """The deterministic sync checks (calls, writes, messages, counters); ``check(name, ok, detail)``."""
    sync = figures.get("sync")
    if sync is None:
        check("sync figures produced", False, "missing")
        return
    for size, runs in sync["sizes"].items():
        new, rerun = runs["new"], runs["rerun"]
        n = new["contacts"]
        check(
            f"sync {size} new: run succeeded, every contact added",
            new["status"] == "succeeded" and new["counters"]["added"] == n,
            f"status {new['status']} {new['error'] or ''}, counters {new['counters']}",
        )
        for label, key in (("contact calls", "contact_calls"), ("calls incl. run bookkeeping", "all_calls")):
            ratio = new[key]["ratio_to_minimum"]
            check(
                f"sync {size} new: {label} within 1.1x of the minimum",
                ratio is not None and ratio <= 1.1,
                f"{new[key]['total_calls']} calls, minimum {new[key]['minimum_calls']}, ratio {ratio}",
            )
        check(
            f"sync {size} new: one message per new contact, in SendMessageBatch of 10",
            new["calls"].get("sqs.SendMessageBatch", 0) == math.ceil(n / 10)
            and "sqs.SendMessage" not in new["calls"],
            f"{new['calls'].get('sqs.SendMessageBatch', 0)} SendMessageBatch",
        )
        check(
            f"sync {size} rerun: run succeeded, every contact unchanged",
            rerun["status"] == "succeeded" and rerun["counters"]["unchanged"] == n,
            f"status {rerun['status']} {rerun['error'] or ''}, counters {rerun['counters']}",
        )
        check(
            f"sync {size} rerun: 0 contact writes, 0 messages",
            rerun["contact_writes"] == 0 and rerun["message_calls"] == 0,
            f"writes {rerun['contact_writes']}, message calls {rerun['message_calls']}",
        )
        ratio = rerun["contact_calls"]["ratio_to_minimum"]
        check(
            f"sync {size} rerun: contact calls within 1.1x of the minimum",
            ratio is not None and ratio <= 1.1,
            f"{rerun['contact_calls']['total_calls']} calls, minimum "
            f"{rerun['contact_calls']['minimum_calls']}, ratio {ratio}",
        )


def table_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    sync = figures.get("sync")
    if sync is None:
        return []
    rows: list[tuple[str, str, str, str]] = []
    for size, runs in sync["sizes"].items():
        new, rerun = runs["new"], runs["rerun"]
        n = int(size)
        floor = new.get("floor")
        rows.append(
            (
                f"sync {n:,} new contacts (data only)",
                f"{new['seconds']:.1f} s, {new['ms_per_contact']:.3f} ms/contact",
                "-" if floor is None else f"storage floor {floor['seconds']:.1f} s",
                "-" if floor is None else f"{new['ratio_to_floor']:.2f}x (target <= {FLOOR_TARGET}x)",
            )
        )
        c, b = new["contact_calls"], new["bookkeeping_calls"]
        rows.append(
            (
                f"AWS calls, sync {n:,} new",
                f"{c['total_calls']} ({c['calls_per_contact']:.3f}/contact) + {b['total_calls']} run",
                f"minimum {c['minimum_calls']} + {b['minimum_calls']} run",
                f"{c['ratio_to_minimum']:.3f}x, with run {new['all_calls']['ratio_to_minimum']:.3f}x "
                "(target <= 1.1x)",
            )
        )
        m = new["memory"]
        rows.append(
            (
                f"peak memory, sync {n:,}",
                f"{m['max_rss_mb']:.0f} MB; during the run {m['max_rss_mb_run']} MB",
                f"imports and wiring: {m['max_rss_mb_imports']:.0f} MB, {m['rss_mb_before_run']} MB resident",
                f"run added {m['run_added_mb']} MB",
            )
        )
        floor = rerun.get("floor")
        rows.append(
            (
                f"sync rerun {n:,}, nothing changed",
                f"{rerun['seconds']:.2f} s, {rerun['contact_writes']} writes, {rerun['message_calls']} msgs, "
                f"{rerun['contact_calls']['total_calls']} calls",
                "-" if floor is None else f"BatchGetItem floor {floor['seconds']:.2f} s",
                "-" if floor is None else f"{rerun['ratio_to_floor']:.2f}x (target <= {FLOOR_TARGET}x)",
            )
        )
    for size, entry in sync["scale"].items():
        if size == "reference_contacts":
            continue
        base = sync["scale"]["reference_contacts"]
        rows.append(
            (
                f"sync time per contact, {int(size):,} vs {base:,}",
                f"{sync['sizes'][size]['new']['ms_per_contact']:.3f} ms",
                f"{sync['sizes'][str(base)]['new']['ms_per_contact']:.3f} ms",
                f"{entry['time_per_contact_ratio']:.2f}x (target <= {TIME_PER_CONTACT_TARGET}x)",
            )
        )
        big, small = sync["sizes"][size]["new"]["memory"], sync["sizes"][str(base)]["new"]["memory"]
        rows.append(
            (
                f"sync peak memory, {int(size):,} vs {base:,}",
                f"{big['max_rss_mb']:.0f} MB (run alone {big['max_rss_mb_run']} MB)",
                f"{small['max_rss_mb']:.0f} MB (run alone {small['max_rss_mb_run']} MB)",
                f"{entry['peak_memory_ratio']:.2f}x, run alone {entry['run_peak_memory_ratio']}x "
                f"(target <= {MEMORY_TARGET}x)",
            )
        )
    return rows
