"""AWS fault injection: a share of DynamoDB and SQS attempts fail the way AWS fails them.

A ``before-send`` handler on botocore's event system answers a chosen share of
*attempts* with the HTTP error AWS would send (throttling, 500). botocore parses
it like any response, so its standard retry handler sees it and retries with
backoff, exactly as against AWS; only what survives the retries reaches the
product. Nothing in the product is patched: handlers are registered on an event
emitter (boto3's default session by default), and every client created from it
afterwards carries them.

``CONTACTSYNC_FAULTS="dynamodb=0.2,sqs=0.1,seed=7"`` names the share per service,
or per operation (``sqs.SendMessageBatch=1``, which wins over the service's share).
"""

from __future__ import annotations

import functools
import json
import os
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from botocore.awsrequest import AWSResponse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from botocore.hooks import BaseEventHooks

FAULTS_ENVIRONMENT_VARIABLE = "CONTACTSYNC_FAULTS"
FAULTS_STATE_DIR_VARIABLE = "CONTACTSYNC_FAULTS_STATE_DIR"
FAULTS_FOLDER = "faults"


@dataclass(frozen=True)
class AwsFault:
    """One error response as the service sends it (AWS JSON protocol)."""

    status: int
    code: str
    message: str

    def response(self, url: str, service: str) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.{service}#{self.code}", "message": self.message})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
        return AWSResponse(url, self.status, cast("Any", headers), _Body(body.encode()))


class _Body:
    """The raw part of an ``AWSResponse``: botocore reads the body through ``stream()``."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


# What each service answers when it throttles or fails; every code here is one botocore's
# standard retry mode retries (throttling codes, or HTTP 500).
FAULTS_BY_SERVICE: dict[str, tuple[AwsFault, ...]] = {
    "dynamodb": (
        AwsFault(400, "ProvisionedThroughputExceededException", "Injected: throughput exceeded."),
        AwsFault(400, "ThrottlingException", "Injected: rate of requests exceeds the allowed throughput."),
        AwsFault(500, "InternalServerError", "Injected: internal server error."),
    ),
    "sqs": (
        AwsFault(500, "InternalError", "Injected: internal error."),
        AwsFault(400, "RequestThrottled", "Injected: request throttled."),
    ),
}

# Operations a bare service share applies to (None: all). Receiving and deleting are the
# runner's work, not the product's: an SQS share fails what the product sends.
DEFAULT_OPERATIONS: dict[str, frozenset[str] | None] = {
    "dynamodb": None,
    "sqs": frozenset({"SendMessage", "SendMessageBatch"}),
}


class FaultPlanError(ValueError):
    """A fault plan that cannot be read: unknown service, share outside 0..1, bad syntax."""


@dataclass(frozen=True)
class FaultPlan:
    """Which share of attempts fails, per service and per operation, with a seed for repeatable runs."""

    service_shares: Mapping[str, float] = field(default_factory=dict)
    operation_shares: Mapping[tuple[str, str], float] = field(default_factory=dict)
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """Read ``"dynamodb=0.2,sqs.SendMessageBatch=0.5,seed=7"``."""
        services: dict[str, float] = {}
        operations: dict[tuple[str, str], float] = {}
        seed: int | None = None
        for part in (piece.strip() for piece in text.split(",")):
            if not part:
                continue
            name, separator, value = (token.strip() for token in part.partition("="))
            if not separator or not name or not value:
                raise FaultPlanError(f"expected NAME=VALUE, got {part!r}")
            if name == "seed":
                try:
                    seed = int(value)
                except ValueError:
                    raise FaultPlanError(f"seed must be an integer, got {value!r}") from None
                continue
            service, _, operation = name.partition(".")
            service = service.lower()
            if service not in FAULTS_BY_SERVICE:
                known = ", ".join(FAULTS_BY_SERVICE)
                raise FaultPlanError(f"no faults known for {service!r}; known: {known}")
            share = _share(value)
            if operation:
                operations[(service, operation)] = share
            else:
                services[service] = share
        return cls(service_shares=services, operation_shares=operations, seed=seed)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> FaultPlan | None:
        """The plan in ``CONTACTSYNC_FAULTS``, or None when it is unset or empty."""
        text = (os.environ if environ is None else environ).get(FAULTS_ENVIRONMENT_VARIABLE, "").strip()
        return cls.parse(text) if text else None

    def share_for(self, service: str, operation: str) -> float:
        """The share of this operation's attempts that fail."""
        if (service, operation) in self.operation_shares:
            return self.operation_shares[(service, operation)]
        chosen = DEFAULT_OPERATIONS.get(service)
        if chosen is not None and operation not in chosen:
            return 0.0
        return self.service_shares.get(service, 0.0)

    def describe(self) -> str:
        """The plan as it would be written, for banners and logs."""
        parts = [f"{service}={share:g}" for service, share in sorted(self.service_shares.items())]
        parts += [
            f"{service}.{operation}={share:g}"
            for (service, operation), share in sorted(self.operation_shares.items())
        ]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        raise FaultPlanError(f"a share is a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= share <= 1.0:
        raise FaultPlanError(f"a share is a number between 0 and 1, got {value!r}")
    return share


class FaultCounter:
    """How many faults were injected, per service; written to a file per process when given a folder."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._by_code: dict[str, int] = {}
        self._file = (
            None if state_dir is None else Path(state_dir) / FAULTS_FOLDER / f"injected-{os.getpid()}.json"
        )
        self._detach: list[Callable[[], None]] = []

    def stop_injecting(self) -> None:
        """End the faults: clients made while injecting hold copies of the handler, so it goes quiet too."""
        for detach in self._detach:
            detach()
        self._detach.clear()

    def record(self, service: str, code: str) -> None:
        with self._lock:
            self._counts[service] = self._counts.get(service, 0) + 1
            self._by_code[code] = self._by_code.get(code, 0) + 1
            if self._file is not None:
                self._write(dict(self._counts))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def by_code(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_code)

    @property
    def total(self) -> int:
        return sum(self.counts().values())

    def _write(self, counts: dict[str, int]) -> None:
        assert self._file is not None
        self._file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(counts, sort_keys=True), encoding="utf-8")
        temporary.replace(self._file)


def read_injected_counts(state_dir: Path) -> dict[str, int]:
    """Faults injected per service, summed over every process that wrote under ``state_dir``."""
    totals: dict[str, int] = {}
    for path in sorted((Path(state_dir) / FAULTS_FOLDER).glob("injected-*.json")):
        try:
            counts = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a file being replaced right now: the next read sees it
        for service, count in counts.items():
            totals[service] = totals.get(service, 0) + int(count)
    return totals


class _FaultInjector:
    """The ``before-send`` handler: decides per attempt, answers with an AWS error or lets it through."""

    def __init__(self, plan: FaultPlan, counter: FaultCounter) -> None:
        self._plan = plan
        self._counter = counter
        self._random = random.Random(plan.seed)  # noqa: S311 - chaos, not cryptography
        self._lock = threading.Lock()
        self.active = True

    def stop(self) -> None:
        self.active = False

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        service, operation = event_name.split(".", 2)[1:]
        share = self._plan.share_for(service, operation)
        if share <= 0.0 or not self.active:
            return None
        with self._lock:
            if self._random.random() >= share:
                return None
            fault = self._random.choice(FAULTS_BY_SERVICE[service])
        self._counter.record(service, fault.code)
        return fault.response(str(getattr(request, "url", "")), service)


def install(
    plan: FaultPlan, events: BaseEventHooks | None = None, state_dir: Path | None = None
) -> FaultCounter:
    """Inject ``plan`` into every client created from ``events`` from now on; return the counter.

    ``events`` defaults to boto3's default session (set up here when missing), which
    ``boto3.client(...)`` uses; a client's own ``meta.events`` works too, for a client
    that already exists. With ``state_dir``, counts go to ``<state_dir>/faults/``.
    """
    if events is None:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        events = boto3.DEFAULT_SESSION.events
    counter = FaultCounter(state_dir)
    faults = _FaultInjector(plan, counter)
    # botocore types handlers as returning None; a before-send handler may return a response.
    injector = cast("Callable[..., None]", faults)
    for service in FAULTS_BY_SERVICE:
        event_name = f"before-send.{service}"
        events.register(event_name, injector)
        counter._detach.append(functools.partial(events.unregister, event_name, injector))
    counter._detach.append(faults.stop)
    return counter


def install_from_environment(environ: Mapping[str, str] | None = None) -> FaultCounter | None:
    """Install the plan named by ``CONTACTSYNC_FAULTS`` (counts under ``CONTACTSYNC_FAULTS_STATE_DIR``)."""
    source = os.environ if environ is None else environ
    plan = FaultPlan.from_environment(source)
    if plan is None:
        return None
    state_dir = source.get(FAULTS_STATE_DIR_VARIABLE) or None
    return install(plan, state_dir=Path(state_dir) if state_dir else None)
