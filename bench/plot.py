"""Draw bench/results.json's ratios (each figure against its same-run reference) to a PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results.json"
PICTURE = Path(__file__).resolve().parent / "performance.png"


def ratios(figures: dict[str, Any]) -> list[tuple[str, float]]:
    """Every ``ratio*`` number of the figures, labelled by where it sits (per-operation detail left out)."""
    found: list[tuple[str, float]] = []

    def walk(value: Any, path: list[str]) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key != "by_operation":
                    walk(child, [*path, key])
        elif (
            isinstance(value, int | float)
            and path
            and path[-1].startswith("ratio")
            and "target" not in path[-1]
        ):
            found.append(
                (" / ".join(path[:-1]) + f" ({path[-1].removeprefix('ratio_').replace('_', ' ')})", value)
            )

    walk(figures, [])
    return found


def draw(results_path: Path = RESULTS, picture_path: Path = PICTURE) -> Path:
    results = json.loads(results_path.read_text(encoding="utf-8"))
    bars = ratios(results["figures"])
    machine = results.get("machine", {})
    height = max(3.0, 0.32 * len(bars) + 1.2)
    figure, axes = plt.subplots(figsize=(10, height))
    labels = [label for label, _ in bars]
    values = [value for _, value in bars]
    axes.barh(labels, values, color="#1f5fd1")
    axes.axvline(1.0, color="#d13d1f", linewidth=1)
    axes.invert_yaxis()
    axes.set_xlabel("ratio to the reference measured in the same run (1.0 = the reference)")
    axes.set_title(
        f"contactsync bench, {machine.get('date', '')[:10]}, {machine.get('nproc', '?')} cores, "
        f"Python {machine.get('python', '?')}"
    )
    axes.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(picture_path, dpi=110)
    plt.close(figure)
    return picture_path


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS))
