"""EventBridge schedules for the local stack: fire ``rate(...)`` rules at their rate.

``cron(...)`` rules are not fired locally (they are logged as such at start): a rate is
what the project uses, and a cron parser here would be code to trust without AWS to
compare with. Like EventBridge, the first event comes one period after the rule starts.
Invocations are asynchronous in AWS; here errors are logged and not retried.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contactsync_ops.local_stack.template_model import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contactsync_ops.local_stack.lambda_runtime import LambdaRuntime
    from contactsync_ops.local_stack.template_model import FunctionSpec, ScheduleEvent

logger = logging.getLogger(__name__)

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_rate_seconds(expression: str) -> int | None:
    """Seconds between events of ``rate(N unit)``; None for ``cron(...)``.

    As EventBridge does, a value of 1 takes the singular unit and larger values the plural.
    """
    expression = expression.strip()
    if expression.startswith("cron(") and expression.endswith(")"):
        return None
    match = _RATE.fullmatch(expression)
    if match is None:
        raise TemplateError(f"schedule expression {expression!r} is neither rate(N unit) nor cron(...)")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise TemplateError(f"schedule expression {expression!r}: the rate must be at least 1")
    if (value == 1) != (not unit.endswith("s")):
        raise TemplateError(
            f"schedule expression {expression!r}: use the singular unit for 1, plural otherwise"
        )
    return value * _UNIT_SECONDS[unit.rstrip("s")]


def rule_arn(schedule: ScheduleEvent, *, region: str, account_id: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:rule/{schedule.rule_name}"


def build_scheduled_event(
    schedule: ScheduleEvent,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    now: datetime | None = None,
) -> Any:
    """The event EventBridge sends for a scheduled rule (or the rule's constant Input)."""
    if schedule.input_json is not None:
        return json.loads(schedule.input_json)
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn(schedule, region=region, account_id=account_id)],
        "detail": {},
    }


@dataclass(frozen=True)
class ScheduledTarget:
    function_logical_id: str
    schedule: ScheduleEvent
    period_seconds: int | None


def scheduled_targets(functions: Mapping[str, FunctionSpec]) -> list[ScheduledTarget]:
    """Every enabled Schedule event, with its period (None when it is a cron rule)."""
    return [
        ScheduledTarget(logical_id, schedule, parse_rate_seconds(schedule.expression))
        for logical_id, spec in functions.items()
        for schedule in spec.schedules
        if schedule.enabled
    ]


class ScheduleRunner:
    """One thread that fires every rate schedule at its period until stopped."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        runtime: LambdaRuntime,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.targets = scheduled_targets(functions)
        self.runtime = runtime
        self.region = region
        self.account_id = account_id
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for target in self.targets:
            if target.period_seconds is None:
                logger.warning(
                    "%s %s: %s is not fired locally (cron schedules are not emulated)",
                    target.function_logical_id,
                    target.schedule.event_id,
                    target.schedule.expression,
                )
        if any(target.period_seconds for target in self.targets):
            self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)
            self._thread.start()

    def fire(self, target: ScheduledTarget) -> None:
        """Invoke the target once now (also usable to trigger a schedule by hand)."""
        event = build_scheduled_event(target.schedule, region=self.region, account_id=self.account_id)
        result = self.runtime.invoke(target.function_logical_id, event)
        if result.error is not None:
            logger.error(
                "schedule %s -> %s failed: %s: %s",
                target.schedule.rule_name,
                target.function_logical_id,
                result.error.error_type,
                result.error.error_message,
            )
        else:
            logger.info(
                "schedule %s -> %s (%.0f ms)",
                target.schedule.rule_name,
                target.function_logical_id,
                result.duration_ms,
            )

    def _run(self) -> None:
        started = time.monotonic()
        next_fire = {
            index: started + target.period_seconds
            for index, target in enumerate(self.targets)
            if target.period_seconds is not None
        }
        while not self._stopping.is_set():
            index = min(next_fire, key=next_fire.__getitem__)
            if self._stopping.wait(max(0.0, next_fire[index] - time.monotonic())):
                return
            target = self.targets[index]
            assert target.period_seconds is not None
            next_fire[index] += target.period_seconds
            # Asynchronous, as EventBridge invokes: a long run does not delay the other rules.
            threading.Thread(
                target=self._fire_logged, args=(target,), name="schedule-fire", daemon=True
            ).start()

    def _fire_logged(self, target: ScheduledTarget) -> None:
        try:
            self.fire(target)
        except Exception:
            logger.exception("schedule %s could not be fired", target.schedule.rule_name)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
