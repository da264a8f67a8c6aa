"""The one loader of the sample events in events/ (also used by `sam local invoke`)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def load_event(name: str, **top_level_overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json``, with top-level keys replaced."""
    event = copy.deepcopy(_read(name))
    event.update(top_level_overrides)
    return event


def api_event(
    name: str,
    *,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway sample with its path, headers or body changed consistently."""
    event = load_event(name)
    if path_parameters:
        event["pathParameters"] = path_parameters
        path = event["resource"]
        for key, value in path_parameters.items():
            path = path.replace("{" + key + "}", value)
        event["path"] = path
    if headers is not None:
        event["headers"] = headers
        event["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
    if body is not None:
        event["body"] = body
    return event
