"""HTTP load through the local gateway, and the gateway's ceiling (a handler that only answers 202)."""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from contactsync_ops.local_stack.api_gateway import ApiGatewayServer
from contactsync_ops.local_stack.lambda_runtime import LambdaRuntime

if TYPE_CHECKING:
    from collections.abc import Callable

    from contactsync_ops.local_stack.stack import LocalStack

INGEST_PATH = "/v1/sources/{source_id}/contacts"
NULL_FUNCTION_DIR = Path(__file__).resolve().parent / "null_function"
FLOOR_FUNCTION_DIR = Path(__file__).resolve().parent / "floor_function"


def ingest_function_id(stack: LocalStack) -> str:
    assert stack.template is not None
    for logical_id, spec in stack.template.functions.items():
        if any(route.path == INGEST_PATH and route.method == "POST" for route in spec.api_routes):
            return logical_id
    raise RuntimeError(f"no function serves POST {INGEST_PATH} in the template")


class ReferenceGateway:
    """The same gateway and worker runtime as the stack's, with the Ingest function's settings, in front
    of a reference handler: ``NULL_FUNCTION_DIR`` only returns 202 (the gateway's ceiling),
    ``FLOOR_FUNCTION_DIR`` makes the bare calls that store one new contact (the storage floor).
    """

    def __init__(self, stack: LocalStack, function_dir: Path) -> None:
        assert stack.template is not None
        assert stack.endpoints is not None
        logical_id = ingest_function_id(stack)
        spec = dataclasses.replace(
            stack.template.functions[logical_id],
            name=f"bench-{function_dir.name}",
            code_dir=function_dir,
            handler="app.lambda_handler",
            schedules=(),
            sqs_events=(),
        )
        self.runtime = LambdaRuntime(
            {logical_id: spec},
            endpoints=stack.endpoints,
            account_id=stack.template.account_id,
            max_concurrency=stack.options.max_concurrency,
        )
        self.server = ApiGatewayServer(
            {logical_id: spec}, self.runtime, port=0, account_id=stack.template.account_id
        )

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.runtime.close()


@dataclasses.dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
        }


def run_load(
    url: str, bodies: list[str], headers: dict[str, str], senders: int, check: Callable[[Any], bool]
) -> LoadResult:
    """POST each body once, spread over ``senders`` threads; latency per request, wall time overall."""
    local = threading.local()
    latencies: list[float] = [0.0] * len(bodies)
    statuses: list[int] = [0] * len(bodies)

    def send(index: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        response = session.post(url, data=bodies[index], headers=headers, timeout=120)
        latencies[index] = (time.perf_counter() - started) * 1000
        statuses[index] = response.status_code if check(response) else -response.status_code

    started = time.perf_counter()
    if senders == 1:
        for index in range(len(bodies)):
            send(index)
    else:
        with ThreadPoolExecutor(max_workers=senders) as pool:
            list(pool.map(send, range(len(bodies))))
    seconds = time.perf_counter() - started
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return LoadResult(len(bodies), seconds, latencies, counts)


def warm_up(url: str, body_for: Callable[[int], str], headers: dict[str, str], workers: int) -> None:
    """Start every warm worker of the pool (cold starts are not what these figures measure).

    Two rounds of ``workers`` requests; ``body_for`` gets 0 .. 2 * workers - 1, so each body can be new.
    """
    for first in (0, workers):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(
                pool.map(
                    lambda i: requests.post(url, data=body_for(i), headers=headers, timeout=120),
                    range(first, first + workers),
                )
            )


class QueuePurger:
    """Keeps the given queues near empty while the bench runs (bench only; the product never purges).

    moto's SendMessage/SendMessageBatch get slower the more messages a queue holds (about 0.06 ms per
    queued message per call on this machine), which real SQS does not; in AWS the Push function drains
    the push queue. The local stack runs moto in this process, so the bench empties the queues in its
    backend directly (PurgeQueue is limited to once a minute) from a side thread, with no API call.
    """

    def __init__(self, account_id: str, region: str, queue_urls: list[str], interval_seconds: float = 0.2):
        from moto.sqs.models import sqs_backends  # the stack's in-process moto server

        backend = sqs_backends[account_id][region]
        self._queues = [backend.get_queue(url.rstrip("/").rsplit("/", 1)[-1]) for url in queue_urls]
        self._interval = interval_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def purge_now(self) -> None:
        for queue in self._queues:
            with queue._messages_lock:
                queue._messages = []
                queue._pending_messages = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-queue-purger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.purge_now()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
