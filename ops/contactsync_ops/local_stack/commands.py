"""The two local-stack commands behind the CLI: ``dev`` (run it) and ``status`` (look at it)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from contactsync_ops.fault_injection import FaultPlanError, read_injected_counts
from contactsync_ops.local_stack.dynamodb_local import DynamoDbLocalError
from contactsync_ops.local_stack.endpoints import LocalEndpoints
from contactsync_ops.local_stack.loopback_ports import PortInUseError
from contactsync_ops.local_stack.stack import (
    LocalStack,
    LocalStackAlreadyRunningError,
    LocalStackOptions,
    read_stack_state,
    running_stack_state,
)
from contactsync_ops.local_stack.template_model import TemplateError

if TYPE_CHECKING:
    from pathlib import Path
    from types import FrameType

SAMPLE_ROUTE = "/v1/sources/demo/contacts"
SAMPLE_BODY = '{"email": "ada@example.com", "first_name": "Ada"}'


def _configure_logging(console: Console) -> None:
    handler = RichHandler(console=console, show_path=False, markup=False)
    package_logger = logging.getLogger("contactsync_ops")
    package_logger.handlers = [handler]
    package_logger.setLevel(logging.INFO)
    package_logger.propagate = False


def _print_running(console: Console, stack: LocalStack, demo_token: str | None) -> None:
    state = stack.state
    console.print(
        f"[bold green]contactsync local stack[/] [dim](pid {state['pid']}, stack {state['stack_name']}, "
        f"region {state['region']})[/]"
    )
    data = "in memory" if state["in_memory"] else state["dynamodb_data_dir"]
    console.print(f"  DynamoDB Local  {state['endpoints']['dynamodb']}  [dim]data: {data}[/]")
    console.print(f"  moto            {state['endpoints']['moto']}  [dim]SQS, Secrets Manager, S3, SES[/]")
    console.print(f"  API             {state['api_url']}")
    for route in state["routes"]:
        console.print(f"    {route['method']:<6} {route['url']}  [dim]-> {route['function']}[/]")
    for logical_id, function in state["functions"].items():
        for schedule in function["schedules"]:
            note = "" if schedule["fired_locally"] else "  [yellow](not fired locally)[/]"
            console.print(f"  schedule        {schedule['expression']} -> {logical_id}{note}")
        for mapping in function["sqs"]:
            failures = ", ReportBatchItemFailures" if mapping["report_batch_item_failures"] else ""
            console.print(
                f"  queue           {mapping['queue']} -> {logical_id} [dim](batch "
                f"{mapping['batch_size']}, window {mapping['batching_window_seconds']} s{failures})[/]"
            )
    console.print(
        f"  mail sink       {state['mail_dir']}  [dim](.eml for any mail client, .html for a browser)[/]"
    )
    console.print(f"  state           {stack.state_file}")
    if state.get("faults"):
        console.print(
            f"  [bold yellow]faults          injecting AWS faults into the functions: {state['faults']}[/]"
            f"  [dim](counts in {stack.options.state_dir / 'faults'})[/]",
            highlight=False,
        )
    console.print("\nTry:")
    console.print(
        f"  curl -i -X POST {state['api_url']}{SAMPLE_ROUTE} -H 'Content-Type: application/json' "
        f"-H \"Authorization: Bearer {demo_token or '$TOKEN'}\" -d '{SAMPLE_BODY}'",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    console.print("\n[dim]Ctrl-C stops everything.[/]")


def run_dev(
    options: LocalStackOptions, on_started: Callable[[dict[str, Any]], str | None] | None = None
) -> None:
    """Run the local stack in the foreground until Ctrl-C or SIGTERM, then stop all of it.

    ``on_started`` gets the stack state once it runs (the CLI registers a demo
    source there) and may return a bearer token for the printed curl line.
    """
    console = Console()
    _configure_logging(console)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(options)
    try:
        with console.status("starting DynamoDB Local, moto and the functions..."):
            stack.start()
        demo_token = on_started(stack.state) if on_started else None
        _print_running(console, stack, demo_token)
        while not stop_requested.wait(0.5):
            pass
        console.print("\nstopping...")
    except (
        LocalStackAlreadyRunningError,
        PortInUseError,
        TemplateError,
        DynamoDbLocalError,
        FaultPlanError,
    ) as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        raise SystemExit(1) from error
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(
        "[green]stopped[/] DynamoDB Local, moto, the function workers, the API, pollers and schedules."
    )
    if options.faults:
        injected = read_injected_counts(options.state_dir)
        console.print(f"faults injected: {injected or 'none'}", highlight=False)


def _queue_counts(endpoints: LocalEndpoints, queues: dict[str, Any]) -> list[tuple[str, str, str]]:
    client = endpoints.sqs_client()
    rows = []
    for logical_id, queue in queues.items():
        attributes = client.get_queue_attributes(
            QueueUrl=queue["url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        rows.append(
            (
                logical_id,
                attributes.get("ApproximateNumberOfMessages", "?"),
                attributes.get("ApproximateNumberOfMessagesNotVisible", "?"),
            )
        )
    return rows


def _table_counts(endpoints: LocalEndpoints, tables: dict[str, Any]) -> list[tuple[str, str]]:
    client = endpoints.dynamodb_client()
    rows = []
    for logical_id, table in tables.items():
        count = 0
        for page in client.get_paginator("scan").paginate(TableName=table["name"], Select="COUNT"):
            count += page.get("Count", 0)
        rows.append((logical_id, str(count)))
    return rows


def show_status(state_dir: Path) -> int:
    """Print whether a local stack runs, where, and what its queues and tables hold. 0 = running."""
    console = Console()
    state = running_stack_state(state_dir)
    if state is None:
        stale = read_stack_state(state_dir) is not None
        console.print(
            f"no local stack runs{' (stale ' + str(state_dir / 'stack.json') + ')' if stale else ''}; "
            "start one with `make run` or `contactsync dev`"
        )
        return 1
    console.print(f"[bold green]local stack runs[/] (pid {state['pid']}, since {state['started_at']})")
    console.print(f"  API             {state['api_url']}")
    console.print(f"  DynamoDB Local  {state['endpoints']['dynamodb']}")
    console.print(f"  moto            {state['endpoints']['moto']}")
    endpoints = LocalEndpoints(state["endpoints"]["dynamodb"], state["endpoints"]["moto"], state["region"])
    try:
        queues = Table("queue", "visible", "in flight", title="queues")
        for row in _queue_counts(endpoints, state["resource_details"]["queues"]):
            queues.add_row(*row)
        tables = Table("table", "items", title="tables")
        for table_row in _table_counts(endpoints, state["resource_details"]["tables"]):
            tables.add_row(*table_row)
    except (BotoCoreError, ClientError) as error:
        console.print(f"[yellow]could not read queues/tables:[/] {error}")
        return 0
    console.print(queues)
    console.print(tables)
    return 0
