"""One measured sync-bench step in a fresh interpreter: ``python -m bench.sync_child SPEC_JSON``.

Started by ``bench.sync`` with the local stack's endpoints in boto3's own variables
(``AWS_ENDPOINT_URL_DYNAMODB`` ...) and, for the product, the Sync function's environment from
template.yaml, so clients are built exactly as in a Lambda container. The peak memory it reports
(``ru_maxrss``) is therefore this one run's. It writes its figures as JSON to ``spec["out"]``.

Steps (``spec["step"]``):

- ``sync``: the product. ``contactsync.wiring.run_import()`` (the Sync function's own wiring),
  then one ``run_slice(run_id, ...)`` with time never short, so the whole run is one slice. AWS
  calls are counted with a botocore ``before-call`` hook on the wiring's cached clients; calls on
  the run's own item (``RUN#``) and the job's (``JOB#``) are counted apart, as bookkeeping.
- ``floor_new``: ``bench.references.storage_floor_new`` over the same new contacts (the same
  addresses), page by page; each page's items are built outside the clock.
- ``floor_unchanged``: the bare BatchGetItem reads on the stored contacts' own keys (guards, then
  contacts), page by page, keys looked up by a Scan before the clock.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from bench.references import prepare_contacts, storage_floor_new, storage_floor_reads
from tests.doubles.contacts_api_server import generated_contact

BOOKKEEPING_PREFIXES = {"RUN#": "run", "JOB#": "job"}


class ClassifyingCallCounter:
    """Counts API calls by ``service.Operation`` (``before-call``, once per call, before retries).

    A call whose item key is the run's or the job's is counted as ``dynamodb.PutItem[run]`` and
    so on: the import's bookkeeping, not work on contacts. The key is read from the caller's
    parameters (``provide-client-params``, which shares the call's ``context`` with ``before-call``).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("provide-client-params.*.*", self._classify)
            client.meta.events.register("before-call.*.*", self._count)

    @staticmethod
    def _classify(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        key = params.get("Key") or params.get("Item") or {}
        pk = key.get("pk", {}).get("S", "") if isinstance(key, dict) else ""
        for prefix, kind in BOOKKEEPING_PREFIXES.items():
            if isinstance(pk, str) and pk.startswith(prefix):
                context["bench_kind"] = kind

    def _count(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        kind = context.get("bench_kind")
        name = f"{service}.{operation}" + (f"[{kind}]" if kind else "")
        with self._lock:
            self.counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.counts.items()))


def _max_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kilobytes on Linux


def _status_kb(field: str) -> int | None:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) from /proc/self/status, in kilobytes."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: ``clear_refs`` 5), so it is then the run's own peak.

    ru_maxrss cannot be reset that way once a thread has exited (the kernel keeps the peak it had).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def _emails(count: int) -> list[str]:
    return [generated_contact(number)["email"] for number in range(1, count + 1)]


def step_sync(spec: dict[str, Any]) -> dict[str, Any]:
    from contactsync.adapters import aws_clients
    from contactsync.wiring import run_import

    use_case = run_import()  # the Sync function's wiring: cached clients, adapters, connectors
    counter = ClassifyingCallCounter()
    counter.attach(
        aws_clients.dynamodb_client(), aws_clients.sqs_client(), aws_clients.secrets_manager_client()
    )
    import_peak = _status_kb("VmHWM")  # imports and wiring
    rss_before = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    if spec.get("tracemalloc"):
        tracemalloc.start()
    started = time.perf_counter()
    result = use_case.run_slice(spec["run_id"], lambda: 900.0)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else None
    tracemalloc.stop()
    run_peak = _status_kb("VmHWM")
    run = result.run
    return {
        "seconds": seconds,
        "finished": result.finished,
        "status": None if run is None else run.status.value,
        "error": None if run is None else run.error,
        "counters": None if run is None else run.counters.model_dump(),
        "calls": counter.snapshot(),
        "max_rss_kb_imports": import_peak,
        "rss_kb_before_run": rss_before,
        "max_rss_kb_run": run_peak if reset else None,
        "max_rss_kb": _max_rss_kb(),
        "tracemalloc_peak_bytes": traced_peak,
    }


def step_floor_new(spec: dict[str, Any]) -> dict[str, Any]:
    from contactsync.adapters import aws_clients

    dynamodb, sqs = aws_clients.dynamodb_client(), aws_clients.sqs_client()
    counter = ClassifyingCallCounter()
    counter.attach(dynamodb, sqs)
    emails, page = _emails(spec["contacts"]), spec["page_size"]
    seconds = 0.0
    for start in range(0, len(emails), page):
        prepared = prepare_contacts(emails[start : start + page], spec["source_id"])  # outside the clock
        seconds += storage_floor_new(dynamodb, sqs, spec["table"], spec["queue_url"], prepared)
    return {"seconds": seconds, "calls": counter.snapshot()}


def step_floor_unchanged(spec: dict[str, Any]) -> dict[str, Any]:
    from contactsync.adapters import aws_clients

    dynamodb = aws_clients.dynamodb_client()
    contact_of: dict[str, str] = {}
    paginator = dynamodb.get_paginator("scan")
    for found in paginator.paginate(
        TableName=spec["table"],
        FilterExpression="sk = :guard",
        ExpressionAttributeValues={":guard": {"S": "GUARD"}},
        ProjectionExpression="pk, contact_id",
    ):
        for item in found["Items"]:
            contact_of[item["pk"]["S"]] = item["contact_id"]["S"]
    identities = [f"EMAIL#{email}" for email in _emails(spec["contacts"])]
    missing = [identity for identity in identities if identity not in contact_of]
    if missing:
        raise RuntimeError(f"{len(missing)} contacts are not stored, e.g. {missing[0]}")
    counter = ClassifyingCallCounter()
    counter.attach(dynamodb)
    page = spec["page_size"]
    seconds = 0.0
    for start in range(0, len(identities), page):
        chunk = identities[start : start + page]
        guard_keys = [{"pk": {"S": identity}, "sk": {"S": "GUARD"}} for identity in chunk]
        contact_keys = [
            {"pk": {"S": f"CONTACT#{contact_of[identity]}"}, "sk": {"S": "PROFILE"}} for identity in chunk
        ]
        seconds += storage_floor_reads(dynamodb, spec["table"], guard_keys, contact_keys)
    return {"seconds": seconds, "calls": counter.snapshot()}


STEPS = {"sync": step_sync, "floor_new": step_floor_new, "floor_unchanged": step_floor_unchanged}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    figures = STEPS[spec["step"]](spec)
    Path(spec["out"]).write_text(json.dumps(figures), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
