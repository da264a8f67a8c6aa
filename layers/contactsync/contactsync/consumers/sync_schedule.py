"""The Sync function's schedule tick: validate the EventBridge event, start due jobs, report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from contactsync.observability import logger, metrics
from contactsync.wiring import start_due_jobs


def handle_schedule_tick(event: dict[str, Any]) -> dict[str, Any]:
    tick = parse(event=event, model=EventBridgeModel)
    report = start_due_jobs().execute()
    metrics.add_metric(name="SyncJobsStarted", unit="Count", value=report.jobs_started)
    logger.info("schedule tick", extra={"tick_time": tick.time.isoformat(), **asdict(report)})
    return {"tick": tick.time.isoformat(), **asdict(report)}
