"""The benchmark harness still runs: `python -m bench.run_bench --smoke` on its own local stack.

Not a timing test: the smoke run checks that each handler's cold-start import was measured; that
every figure is produced and that the AWS calls per contact (deterministic) stay within 1.1x of
the minimum the batch limits allow; that a push backfill
reaches Mailchimp in at most ceil(N/500) HTTP calls, a rerun of the same batches in none, and that
every contact ends up subscribed in the audience; that a recurring import of 2,000 new contacts (each
run in its own interpreter) stays within 1.1x of the minimum calls, with and without the run's own
checkpoint calls, and that rerunning it writes no contact and queues no message; no time is asserted.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_bench import CALL_FIGURES, REQUIRED_FIGURES

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_bench_smoke_run_produces_every_figure_and_keeps_calls_near_the_minimum(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run_bench", "--smoke", "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["mode"] == "smoke"
    assert results["ok"] is True
    assert {"nproc", "python", "date"} <= results["machine"].keys()
    figures = results["figures"]
    cold = figures["cold_start"]
    assert set(cold["handlers"]) == {"ingest", "optin", "mail", "sync", "push"}
    assert cold["baseline_ms"] > 0
    assert all(figure["import_ms"] > 0 and figure["loaded_ms"] > 0 for figure in cold["handlers"].values())
    for figure, keys in REQUIRED_FIGURES.items():
        for key in keys:
            assert figures[figure][key] > 0, (figure, key)
    for name in CALL_FIGURES:
        calls = figures["calls_per_contact"][name]
        assert calls["ratio_to_minimum"] <= 1.1, (name, calls)
        if name.endswith("_unchanged"):
            assert calls["writes"] == 0, (name, calls)
            assert calls["messages_calls"] == 0, (name, calls)
    backfill, rerun = figures["push_backfill"], figures["push_rerun"]
    contacts = backfill["contacts"]
    assert backfill["http_calls"] <= math.ceil(contacts / 500), backfill["http_calls_by_route"]
    assert backfill["audience_subscribed"] == contacts
    assert rerun["http_calls"] == 0, rerun["http_calls_by_route"]
    assert figures["push_common_way"]["http_calls"] == contacts
    for size, runs in figures["sync"]["sizes"].items():
        new, rerun = runs["new"], runs["rerun"]
        assert new["status"] == "succeeded", new["error"]
        assert new["counters"]["added"] == int(size), new["counters"]
        assert new["contact_calls"]["ratio_to_minimum"] <= 1.1, new["contact_calls"]
        assert new["all_calls"]["ratio_to_minimum"] <= 1.1, new["all_calls"]
        assert new["message_calls"] == math.ceil(int(size) / 10), new["calls"]
        assert new["memory"]["max_rss_mb"] > 0
        assert rerun["counters"]["unchanged"] == int(size), rerun["counters"]
        assert rerun["contact_writes"] == 0, rerun["calls"]
        assert rerun["message_calls"] == 0, rerun["calls"]
        assert rerun["contact_calls"]["ratio_to_minimum"] <= 1.1, rerun["contact_calls"]
