"""A collector killed with SIGKILL keeps every closed minute of its usage books."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from gpu_insight.collector.accounting import MINUTE_S, UNATTRIBUTED, minute_of
from gpu_insight.collector.backends.replay import load_trace
from gpu_insight.schemas import UsageReport
from tests.support.collector_process import CollectorProcess

# The first sample of a minute commits the minute before; samples come every second.
COMMIT_GRACE_S = 3.0
# Slack for the replay's frame changes to land on the sampler's ticks.
FRAME_SLACK_S = 2.0
MAX_WAIT_S = 80.0
HTTP_TIMEOUT_S = 5.0

Books = dict[int, dict[str, float]]  # minute → app → GPU-seconds


def first_busy_offset_s(trace: Path) -> float:
    """Seconds into the trace of the first sample with a busy GPU (its idle start bills none)."""
    frames = load_trace(trace)
    start = frames[0].collected_at
    busy = (f for f in frames if any(gpu.utilization_percent for gpu in f.gpus))
    first = next(busy, None)
    assert first is not None, f"the trace {trace.name} never shows a busy GPU"
    return first.collected_at - start


def trace_apps(trace: Path) -> set[str]:
    return {p.attribution.app for f in load_trace(trace) for p in f.processes if p.attribution.app}


def read_books(db_path: Path) -> Books:
    """The committed minutes, read-only, as another process (a report job) would read them."""
    books: Books = defaultdict(dict)
    with contextlib.closing(sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)) as reader:
        for minute, app, gpu_seconds in reader.execute(
            "SELECT minute, app, SUM(gpu_seconds) FROM usage_minute GROUP BY minute, app"
        ):
            books[minute][app or UNATTRIBUTED] = gpu_seconds
    return dict(books)


def usage_by_app(collector: CollectorProcess, from_t: int, to_t: int) -> dict[str, float]:
    request = urllib.request.Request(
        f"{collector.url}/v1/usage?from={from_t}&to={to_t}&group_by=app",
        headers={"Authorization": f"Bearer {collector.token}"},
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        report = UsageReport.model_validate_json(response.read())
    return {row.group: row.gpu_seconds for row in report.rows}


def test_kill_9_keeps_every_closed_minute_and_a_restart_reports_it(
    replay_trace: Path, tmp_path: Path
) -> None:
    db_path = tmp_path / "usage.sqlite3"
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump({"accounting": {"db_path": str(db_path)}}), encoding="utf-8")
    config_args = ["--config", str(config)]
    busy_from_s = first_busy_offset_s(replay_trace)

    collector = CollectorProcess(replay_trace, extra_args=config_args).start()
    try:
        # The replay began by now, so the first busy sample comes by `busy_at`; kill once the
        # first minute boundary after it has passed and that minute is committed.
        healthy_at = time.time()
        busy_at = healthy_at + busy_from_s + FRAME_SLACK_S
        kill_at = minute_of(busy_at) + MINUTE_S + COMMIT_GRACE_S
        wait_s = kill_at - time.time()
        assert wait_s <= MAX_WAIT_S, f"would wait {wait_s:.0f} s for a closed busy minute"
        time.sleep(wait_s)
        killed_at = time.time()
        exit_status = collector.kill()
    finally:
        collector.stop()
    assert exit_status == -signal.SIGKILL, f"the collector died before the kill\n{collector.output}"

    last_closed = minute_of(killed_at) - MINUTE_S
    books = read_books(db_path)
    closed = {minute: apps for minute, apps in books.items() if minute <= last_closed}
    ran_through = set(range(minute_of(healthy_at), last_closed + MINUTE_S, MINUTE_S))
    missing = sorted(ran_through - closed.keys())
    assert not missing, f"minutes closed before the kill are missing: {missing}"
    assert sum(s for apps in closed.values() for s in apps.values()) > 0
    assert trace_apps(replay_trace) <= {app for apps in closed.values() for app in apps}

    first_minute = min(closed)
    committed_by_app: dict[str, float] = defaultdict(float)
    for apps in closed.values():
        for app, gpu_seconds in apps.items():
            committed_by_app[app] += gpu_seconds
    with CollectorProcess(replay_trace, extra_args=config_args) as restarted:
        reported = usage_by_app(restarted, first_minute, last_closed + MINUTE_S)
    assert reported == pytest.approx(dict(committed_by_app))
