"""The whole local stack: DynamoDB Local, moto, the functions and their triggers, from template.yaml.

While it runs, ``<state dir>/stack.json`` says where everything is (pid, ports, endpoints,
API URL, resource names); ``contactsync status`` and the e2e tests read it. It also keeps a
second stack from starting on top of the first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from contactsync_ops.fault_injection import (
    FAULTS_ENVIRONMENT_VARIABLE,
    FAULTS_FOLDER,
    FAULTS_STATE_DIR_VARIABLE,
    FaultPlan,
)
from contactsync_ops.local_stack.api_gateway import ApiGatewayServer
from contactsync_ops.local_stack.dynamodb_local import DynamoDbLocal, default_project_root
from contactsync_ops.local_stack.endpoints import LOCAL_REGION, LocalEndpoints
from contactsync_ops.local_stack.lambda_runtime import DEFAULT_MAX_CONCURRENCY, LambdaRuntime
from contactsync_ops.local_stack.loopback_ports import claim_port, pick_free_port
from contactsync_ops.local_stack.mail_sink import MailSink
from contactsync_ops.local_stack.moto_server import LOCAL_ACCOUNT_ID, MotoServer
from contactsync_ops.local_stack.provisioning import provision_stack
from contactsync_ops.local_stack.scheduler import ScheduleRunner, parse_rate_seconds
from contactsync_ops.local_stack.sqs_event_source import SqsEventSourceMapping
from contactsync_ops.local_stack.template_model import (
    DEFAULT_STACK_NAME,
    load_local_template,
    load_template_document,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contactsync_ops.local_stack.provisioning import ProvisionedResources
    from contactsync_ops.local_stack.template_model import LocalTemplate

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "stack.json"


class LocalStackAlreadyRunningError(RuntimeError):
    """A local stack already runs from this state directory."""


@dataclass(frozen=True)
class LocalStackOptions:
    """How to run the local stack. Ports: 0 means any free port."""

    template_path: Path | None = None  # None: the project's template.yaml
    stack_name: str = DEFAULT_STACK_NAME
    state_dir: Path = Path(".local")
    in_memory: bool = False
    gateway_port: int = 3000
    dynamodb_port: int = 8000
    moto_port: int = 5000
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    max_visibility_timeout: int | None = None
    batching_window_seconds: float | None = None
    enable_schedules: bool = True
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    region: str = LOCAL_REGION
    faults: str | None = None  # a fault plan ("dynamodb=0.1,sqs=0.05"): for the function workers only

    def resolved_template_path(self) -> Path:
        return (self.template_path or default_project_root() / "template.yaml").resolve()

    @property
    def dynamodb_data_dir(self) -> Path | None:
        return None if self.in_memory else (self.state_dir / "dynamodb").resolve()


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_stack_state(state_dir: Path) -> dict[str, Any] | None:
    """The parsed stack.json, or None when there is none (or it is unreadable)."""
    try:
        state: dict[str, Any] = json.loads((state_dir / STATE_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state


def running_stack_state(state_dir: Path) -> dict[str, Any] | None:
    """stack.json of a local stack whose process is alive, else None (a stale file counts as none)."""
    state = read_stack_state(state_dir)
    if state is None or not isinstance(state.get("pid"), int) or not pid_alive(state["pid"]):
        return None
    return state


class LocalStack:
    """Starts everything on ``start()``/``__enter__`` and stops all of it on ``stop()``/``__exit__``."""

    def __init__(self, options: LocalStackOptions) -> None:
        self.options = options
        self.template_path = options.resolved_template_path()
        self.state_file = options.state_dir / STATE_FILE_NAME
        self.dynamodb: DynamoDbLocal | None = None
        self.moto: MotoServer | None = None
        self.template: LocalTemplate | None = None
        self.endpoints: LocalEndpoints | None = None
        self.resources: ProvisionedResources | None = None
        self.runtime: LambdaRuntime | None = None
        self.api: ApiGatewayServer | None = None
        self.pollers: list[SqsEventSourceMapping] = []
        self.schedules: ScheduleRunner | None = None
        self.mail_sink: MailSink | None = None
        self.gateway_port = options.gateway_port or pick_free_port()
        self.state: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        """Start every part, provision the template, write stack.json; return its content."""
        options = self.options
        running = running_stack_state(options.state_dir)
        if running is not None:
            raise LocalStackAlreadyRunningError(
                f"a local stack already runs (pid {running['pid']}, API {running.get('api_url')}, "
                f"state {self.state_file}); stop it first (Ctrl-C in its terminal, or kill {running['pid']})"
            )
        if options.faults:
            FaultPlan.parse(options.faults)  # a plan that cannot be read stops us before anything starts
        # Read the template before starting anything: a template problem should cost nothing.
        load_local_template(
            self.template_path,
            stack_name=options.stack_name,
            region=options.region,
            parameter_overrides=dict(options.parameter_overrides),
        )
        if options.gateway_port:
            claim_port(options.gateway_port, "API Gateway")
        try:
            self._start_parts()
        except BaseException:
            self.stop()
            raise
        return self.state

    def _start_parts(self) -> None:
        options = self.options
        options.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.dynamodb = DynamoDbLocal(
            port=options.dynamodb_port,
            in_memory=options.in_memory,
            data_dir=options.dynamodb_data_dir,
            project_root=self.template_path.parent,
            log_path=options.state_dir / "dynamodb-local.log",
        )
        self.dynamodb.start()
        self.moto = MotoServer(port=options.moto_port, account_id=LOCAL_ACCOUNT_ID)
        self.moto.start()
        self.endpoints = LocalEndpoints(self.dynamodb.endpoint_url, self.moto.endpoint_url, options.region)
        self.mail_sink = MailSink(options.state_dir.resolve() / "mail")
        self.mail_sink.start()
        self.template = template = load_local_template(
            self.template_path,
            stack_name=options.stack_name,
            region=options.region,
            account_id=LOCAL_ACCOUNT_ID,
            parameter_overrides=self._parameters(),
            sqs_endpoint_url=self.moto.endpoint_url,
        )
        self.resources = provision_stack(
            template, self.endpoints, max_visibility_timeout=options.max_visibility_timeout
        )
        self.runtime = LambdaRuntime(
            template.functions,
            endpoints=self.endpoints,
            account_id=LOCAL_ACCOUNT_ID,
            max_concurrency=options.max_concurrency,
            worker_extra_environment=self._fault_environment(),
        )
        self.api = ApiGatewayServer(
            template.functions, self.runtime, port=self.gateway_port, account_id=LOCAL_ACCOUNT_ID
        )
        self.api.start()
        sqs_client = self.endpoints.sqs_client()
        for logical_id, spec in template.functions.items():
            for event in spec.sqs_events:
                if not event.enabled:
                    continue
                queue = self.resources.queues[event.queue_logical_id]
                poller = SqsEventSourceMapping(
                    logical_id, event, queue_url=queue.url, queue_arn=queue.arn, runtime=self.runtime,
                    sqs_client=sqs_client, region=options.region,
                    batching_window_seconds=options.batching_window_seconds,
                )  # fmt: skip
                poller.start()
                self.pollers.append(poller)
        if options.enable_schedules:
            self.schedules = ScheduleRunner(
                template.functions, self.runtime, region=options.region, account_id=LOCAL_ACCOUNT_ID
            )
            self.schedules.start()
        self.state = self._describe()
        self._write_state()
        logger.info("local stack up in %.1f s", time.monotonic() - started)

    def _fault_environment(self) -> dict[str, str]:
        """What makes each function worker inject the fault plan (provisioning above never sees it)."""
        if not self.options.faults:
            return {}
        for stale in (self.options.state_dir / FAULTS_FOLDER).glob("injected-*.json"):
            stale.unlink(missing_ok=True)  # counts are this run's only
        return {
            FAULTS_ENVIRONMENT_VARIABLE: self.options.faults,
            FAULTS_STATE_DIR_VARIABLE: str(self.options.state_dir.resolve()),
        }

    def _parameters(self) -> dict[str, str]:
        """The template's parameters for this machine: mail to the local sink, links to the local API.

        Only parameters the template declares are set, and the caller's overrides win.
        """
        assert self.mail_sink is not None
        declared = load_template_document(self.template_path).get("Parameters", {})
        local = {
            "MailTransport": "smtp",
            "SmtpHost": "127.0.0.1",
            "SmtpPort": str(self.mail_sink.port),
            "SmtpStartTls": "false",
            "PublicBaseUrl": f"http://127.0.0.1:{self.gateway_port}",
        }
        chosen = {name: value for name, value in local.items() if name in declared}
        return {**chosen, **dict(self.options.parameter_overrides)}

    def _describe(self) -> dict[str, Any]:
        assert self.template is not None
        assert self.endpoints is not None
        assert self.resources is not None
        assert self.api is not None
        assert self.dynamodb is not None
        assert self.moto is not None
        functions: dict[str, Any] = {}
        routes: list[dict[str, str]] = []
        for logical_id, spec in self.template.functions.items():
            for route in spec.api_routes:
                routes.append(
                    {
                        "method": route.method,
                        "path": route.path,
                        "function": logical_id,
                        "url": self.api.url + route.path,
                    }
                )
            functions[logical_id] = {
                "name": spec.name,
                "code_dir": str(spec.code_dir),
                "timeout_seconds": spec.timeout_seconds,
                "routes": [{"method": r.method, "path": r.path} for r in spec.api_routes],
                "schedules": [
                    {"rule_name": s.rule_name, "expression": s.expression, "enabled": s.enabled,
                     "fired_locally": self.options.enable_schedules and s.enabled
                     and parse_rate_seconds(s.expression) is not None}
                    for s in spec.schedules
                ],
                "sqs": [
                    {"queue": e.queue_logical_id, "batch_size": e.batch_size,
                     "batching_window_seconds": (e.batching_window_seconds
                                                 if self.options.batching_window_seconds is None
                                                 else self.options.batching_window_seconds),
                     "report_batch_item_failures": e.reports_batch_item_failures, "enabled": e.enabled}
                    for e in spec.sqs_events
                ],
            }  # fmt: skip
        data_dir = self.options.dynamodb_data_dir
        return {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "stack_name": self.template.stack_name,
            "region": self.template.region,
            "account_id": self.template.account_id,
            "template_path": str(self.template_path),
            "state_dir": str(self.options.state_dir.resolve()),
            "in_memory": self.options.in_memory,
            "dynamodb_data_dir": None if data_dir is None else str(data_dir),
            "mail_dir": str(self.mail_sink.folder) if self.mail_sink else None,
            "ports": {"api": self.api.port, "dynamodb": self.dynamodb.port, "moto": self.moto.port},
            "endpoints": self.endpoints.by_service(),
            "api_url": self.api.url,
            "aws_environment": self.endpoints.aws_environment(),
            "resources": self.resources.physical_ids(),
            "resource_details": self.resources.as_json(),
            "functions": functions,
            "routes": routes,
            "faults": FaultPlan.parse(self.options.faults).describe() if self.options.faults else None,
        }

    def _write_state(self) -> None:
        temporary = self.state_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.state_file)

    def stop(self) -> None:
        """Stop everything this stack started, last started first. Safe to call twice."""
        if self.schedules is not None:
            self.schedules.stop()
            self.schedules = None
        for poller in self.pollers:
            poller.request_stop()  # all at once: their long polls end together
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.runtime is not None:
            self.runtime.close()  # also ends invocations still running in pollers
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        self.runtime = None
        if self.mail_sink is not None:
            self.mail_sink.stop()
            self.mail_sink = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self.dynamodb is not None:
            self.dynamodb.stop()
            self.dynamodb = None
        state = read_stack_state(self.options.state_dir)
        if state is not None and state.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.state_file.unlink()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
