"""The benchmark still runs end to end and prints its whole table (figures, not speed)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NUMBER = r"-?[\d,]+(?:\.\d+)?"
FIGURES = re.compile(rf"^\s*({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(\d+)\s+\S+")
GATEWAY_BUILT = (REPO / "gateway" / "cli.py").is_file()


def run_bench(*args: str, limit_s: float) -> str:
    """Run the quick bench; on a time-out stop it with SIGTERM so it stops its own children.
    Runs are 1 s after 0.3 s of warm-up (quick's own are 3 s and 1 s): the test checks that
    every row has figures, not what they are, and CI time is worth more than steadier ones."""
    cmd = [sys.executable, str(REPO / "bench" / "run.py"), "--quick"]
    cmd += ["--duration", "1", "--warmup", "0.3", *args]
    with subprocess.Popen(  # noqa: S603 - the bench's own entry point
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    ) as bench:
        try:
            out, err = bench.communicate(timeout=limit_s)
        except subprocess.TimeoutExpired:
            bench.send_signal(signal.SIGTERM)
            out, err = bench.communicate(timeout=60)
            pytest.fail(f"the quick bench took over {limit_s}s:\n{err[-4000:]}")
    assert bench.returncode == 0, err[-4000:]
    return out


def row(table: str, key: str) -> str:
    """The text after a row's key and label (the label is the first 38 columns after the key)."""
    line = next((ln for ln in table.splitlines() if ln.startswith(key + " ")), None)
    assert line is not None, f"row {key} missing from:\n{table}"
    return line[5 + 38 :]


def assert_figures(text: str) -> None:
    match = FIGURES.match(text)
    assert match, f"expected req/s, p50, p99, errors in {text!r}"
    assert float(match[1].replace(",", "")) > 0
    assert int(match[4]) == 0, "errors"


def labelled(table: str, section: str, label: str) -> str:
    """The text after `label` on its line within the section whose header has `section`."""
    lines = table.splitlines()
    start = next((i for i, ln in enumerate(lines) if section in ln), None)
    assert start is not None, f"section {section!r} missing from:\n{table}"
    for line in lines[start + 1 :]:
        if line.startswith("-") or line.startswith("="):
            break
        if line.strip().startswith(label):
            return line.strip()[len(label) :]
    raise AssertionError(f"{label!r} missing from section {section!r}:\n{table}")


@pytest.mark.timeout(600)
def test_quick_mode_prints_every_row_with_figures() -> None:
    table = run_bench(limit_s=540)

    assert_figures(row(table, "(a)"))
    assert_figures(row(table, "(b)"))
    nginx = row(table, "(c)")
    assert "not installed" in nginx or FIGURES.match(nginx)
    assert "FAILED" not in table
    assert "(d)/(b) gateway mem / baseline" in table
    assert "(e)/(b) gateway redis / baseline" in table
    assert "(d)/(c) gateway mem / nginx" in table
    if GATEWAY_BUILT:
        assert_figures(row(table, "(d)"))
        assert re.match(
            rf"\s*{NUMBER}\s+{NUMBER}",
            labelled(table, "added latency", "(d) - (b): gateway over baseline"),
        )
        gateway_inflight = labelled(table, "in-flight", "(d) gateway memory://").split()
        calls, errors, _, auths = gateway_inflight[:4]  # calls errors MiB auths upstream s
        assert (int(calls), int(errors), int(auths)) == (2000, 0, 1)
    redis = row(table, "(e)")
    assert "not available" in redis or FIGURES.match(redis)
    baseline_inflight = labelled(table, "in-flight", "(b) baseline aiohttp pass-through").split()
    assert int(baseline_inflight[1]) == 0, "in-flight errors through the baseline"
    assert "fixed" in table
    assert_main_table(table)


MAIN_ROW = re.compile(
    rf"^\s+(?P<label>.+?)\s+(?P<rps>{NUMBER})\s+{NUMBER}-{NUMBER}\s+{NUMBER}\s+{NUMBER}"
    rf"\s+(?P<cpu>{NUMBER})\s+(?P<errors>\d+)$"
)


def assert_main_table(table: str) -> None:
    """Every subject of the main table and of scaling measured, with CPU per call, no errors."""
    rows = {m["label"]: m for line in table.splitlines() if (m := MAIN_ROW.match(line))}
    for label in (
        "bare aiohttp, asyncio",
        "bare aiohttp, uvloop",
        "gateway memory://, audit file",
        "gateway redis:// + limits, audit file",
        "1 replica, --workers 1",
        "1 replica, --workers 2",
        "3 replicas x --workers 1, one Redis",
    ):
        assert label in rows, f"{label!r} missing from the main table:\n{table}"
        figures = rows[label]
        assert float(figures["rps"].replace(",", "")) > 0 and float(figures["cpu"]) > 0
        assert figures["errors"] == "0", f"{label}: errors"
    assert "gateway memory://, audit file / bare aiohttp, asyncio" in table
    assert "1 replica, --workers 2 / 1 replica, --workers 1" in table
    added = [ln for ln in table.splitlines() if "target p50 <= 0.5" in ln]
    assert len(added) == 3, table  # memory, redis, and the 100 ms upstream


@pytest.mark.timeout(300)
def test_quick_mode_works_without_wrk_and_nginx() -> None:
    table = run_bench(
        "--loadgen", "python", "--nginx", "/nonexistent/nginx", "--skip-inflight", "--skip-main",
        "--duration", "1", "--warmup", "0", limit_s=240,
    )  # fmt: skip

    assert_figures(row(table, "(a)"))
    assert row(table, "(a)").rstrip().endswith("python")
    assert_figures(row(table, "(b)"))
    assert "not installed" in row(table, "(c)")
    if GATEWAY_BUILT:
        assert_figures(row(table, "(d)"))
    assert "in-flight: skipped" in table
