"""Tiny throwaway projects (template.yaml + function directories) for the local stack's emulators."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@pytest.fixture
def tiny_project(tmp_path: Path) -> Callable[[str, dict[str, str]], Path]:
    """Write template.yaml and each ``<dir>/app.py`` under tmp_path; return the template path."""

    def write(template: str, functions: dict[str, str]) -> Path:
        for directory, source in functions.items():
            (tmp_path / directory).mkdir(parents=True, exist_ok=True)
            (tmp_path / directory / "app.py").write_text(textwrap.dedent(source), encoding="utf-8")
        path = tmp_path / "template.yaml"
        path.write_text(textwrap.dedent(template), encoding="utf-8")
        return path

    return write
