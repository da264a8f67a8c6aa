"""The whole local stack for the real template, started as `make run` starts it: a subprocess."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.local_stack_process import RunningLocalStack, started_local_stack

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalStack]:
    """`contactsync dev` on free ports, in memory, with quick retries; stopped at session end."""
    with started_local_stack(tmp_path_factory.mktemp("local-stack")) as stack:
        yield stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log check reads what every other e2e flow logged, so it runs after them."""
    last = [item for item in items if "test_logs_hold_no_personal_data.py" in item.nodeid]
    items[:] = [item for item in items if item not in last] + last
