"""The usage ledger: per-minute books in SQLite, exact over known traces, kept across restarts."""

from __future__ import annotations

import itertools
import select
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_insight.collector.accounting import MAX_INTERVAL_S, UsageLedger
from gpu_insight.collector.backends.replay import load_trace
from gpu_insight.collector.config import AccountingConfig
from gpu_insight.schemas import GroupBy, Snapshot, UsageReport
from tests.collector.synthetic import (
    FakeClock,
    make_gpu,
    make_process,
    make_snapshot,
    shared_gpu_snapshot,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_040.0  # the start of a minute
FEEDER_TIMEOUT_S = 60.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "books" / "usage.sqlite3"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def ledger(db_path: Path, clock: FakeClock) -> Iterator[UsageLedger]:
    books = UsageLedger(AccountingConfig(db_path=str(db_path)), clock=clock)
    yield books
    books.close()


def feed_shared_gpu(ledger: UsageLedger, start: float, seconds: int) -> None:
    """Samples every second from `start` to `start + seconds`: `seconds` accounted seconds."""
    for second in range(seconds + 1):
        ledger.add(shared_gpu_snapshot(start + second))


def by_group(report: UsageReport) -> dict[str, tuple[float, float, float]]:
    return {r.group: (r.gpu_seconds, r.memory_mib_seconds, r.energy_joules) for r in report.rows}


def committed_minutes(db_path: Path) -> list[int]:
    with sqlite3.connect(db_path) as reader:
        rows = reader.execute("SELECT DISTINCT minute FROM usage_minute ORDER BY minute")
        return [minute for (minute,) in rows]


def test_ten_minutes_of_a_shared_gpu_match_the_known_answer(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 600)
    report = ledger.report(from_t=T0, to_t=T0 + 600, group_by="app")
    books = by_group(report)
    assert books["chat"] == pytest.approx((360.0, 2_400_000.0, 135_000.0), rel=1e-3)
    assert books["ocr"] == pytest.approx((120.0, 1_200_000.0, 45_000.0), rel=1e-3)
    assert [r.group for r in report.rows] == ["chat", "ocr"]
    assert report.total_gpu_hours == pytest.approx(480.0 / 3600, rel=1e-3)
    assert report.total_energy_joules == pytest.approx(180_000.0, rel=1e-3)
    assert report.rows[0].share_methods == ["sm_utilization"]


@pytest.mark.parametrize(
    ("group_by", "groups"),
    [
        ("team", {"support": 360.0, "docs": 120.0}),
        ("container", {"vllm-llama": 360.0, "ocr-worker": 120.0}),
        ("model", {"meta-llama/Llama-3.1-8B-Instruct": 360.0, "PaddleOCR": 120.0}),
        ("gpu", {make_gpu(0).uuid: 480.0}),
    ],
)
def test_report_groups_by_each_dimension(
    ledger: UsageLedger, group_by: GroupBy, groups: dict[str, float]
) -> None:
    feed_shared_gpu(ledger, T0, 600)
    report = ledger.report(from_t=T0, to_t=T0 + 600, group_by=group_by)
    assert {r.group: r.gpu_seconds for r in report.rows} == pytest.approx(groups, rel=1e-3)


def test_apps_filter_keeps_only_those_apps(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 120)
    report = ledger.report(from_t=T0, to_t=T0 + 120, group_by="team", apps={"ocr"})
    assert by_group(report) == {"docs": pytest.approx((24.0, 240_000.0, 9000.0))}


def test_empty_apps_filter_reports_nothing(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 120)
    assert ledger.report(from_t=T0, to_t=T0 + 120, group_by="app", apps=set()).rows == []


def test_unknown_attribution_is_reported_as_unattributed(ledger: UsageLedger) -> None:
    gpu = make_gpu(0, utilization_percent=50.0, power_watts=100.0)
    for second in range(61):
        ledger.add(make_snapshot(T0 + second, [gpu], [make_process(7, gpu, memory_mib=10.0)]))
    report = ledger.report(from_t=T0, to_t=T0 + 60, group_by="team")
    assert by_group(report) == {"unattributed": pytest.approx((30.0, 600.0, 6000.0))}
    assert report.rows[0].share_methods == ["memory_share"]


def test_interval_across_a_minute_boundary_is_split_in_proportion(ledger: UsageLedger) -> None:
    ledger.add(shared_gpu_snapshot(T0 + 50))
    ledger.add(shared_gpu_snapshot(T0 + 70))
    first = ledger.report(from_t=T0, to_t=T0 + 60, group_by="app")
    second = ledger.report(from_t=T0 + 60, to_t=T0 + 120, group_by="app")
    assert by_group(first)["chat"][0] == pytest.approx(6.0)
    assert by_group(second)["chat"][0] == pytest.approx(6.0)


def test_report_covers_whole_minutes_overlapping_the_window(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 180)
    report = ledger.report(from_t=T0 + 70, to_t=T0 + 100, group_by="app")
    assert (report.from_t, report.to_t) == (T0 + 60, T0 + 120)
    assert by_group(report)["chat"][0] == pytest.approx(36.0)


def test_gap_longer_than_max_interval_is_not_billed(ledger: UsageLedger) -> None:
    ledger.add(shared_gpu_snapshot(T0))
    ledger.add(shared_gpu_snapshot(T0 + MAX_INTERVAL_S + 1))
    ledger.add(shared_gpu_snapshot(T0 + MAX_INTERVAL_S + 11))
    report = ledger.report(from_t=T0, to_t=T0 + 600, group_by="app")
    assert by_group(report)["chat"][0] == pytest.approx(6.0)


def test_minute_in_progress_is_in_the_report_but_not_yet_committed(
    ledger: UsageLedger, db_path: Path
) -> None:
    feed_shared_gpu(ledger, T0, 90)
    assert committed_minutes(db_path) == [T0]
    report = ledger.report(from_t=T0, to_t=T0 + 120, group_by="app")
    assert by_group(report)["chat"][0] == pytest.approx(54.0)


def idle_shared_gpu_snapshot(collected_at: float) -> Snapshot:
    """The shared GPU of `shared_gpu_snapshot` at 2 % busy: held 2:1 by chat and ocr."""
    snapshot = shared_gpu_snapshot(collected_at)
    snapshot.gpus[0].utilization_percent = 2.0
    return snapshot


def test_idle_but_held_time_is_booked_per_holder_by_memory(ledger: UsageLedger) -> None:
    for second in range(121):
        ledger.add(idle_shared_gpu_snapshot(T0 + second))
    report = ledger.report(from_t=T0, to_t=T0 + 120, group_by="app")
    held = {r.group: r.idle_held_gpu_seconds for r in report.rows}
    assert held == pytest.approx({"chat": 80.0, "ocr": 40.0})


def test_a_busy_gpu_books_no_idle_but_held_time(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 120)
    report = ledger.report(from_t=T0, to_t=T0 + 120, group_by="app")
    assert {r.idle_held_gpu_seconds for r in report.rows} == {0.0}


def test_each_gpu_reports_its_watched_time_busy_time_peaks_and_holders(
    ledger: UsageLedger,
) -> None:
    for second in range(61):
        snapshot = shared_gpu_snapshot(T0 + second)
        if second == 30:  # one sample fuller and busier than the rest
            snapshot.gpus[0].memory_used_mib = 9000.0
            snapshot.gpus[0].utilization_percent = 95.0
            snapshot.processes[0].used_memory_mib = 7000.0
        ledger.add(snapshot)
    [gpu] = ledger.report(from_t=T0, to_t=T0 + 60, group_by="app").gpus
    assert (gpu.name, gpu.memory_total_mib) == ("NVIDIA H100 80GB HBM3", 81559.0)
    assert gpu.observed_seconds == pytest.approx(60.0)
    assert gpu.busy_gpu_seconds == pytest.approx(59 * 0.8 + 0.95)
    assert (gpu.peak_memory_used_mib, gpu.peak_utilization_percent) == (9000.0, 95.0)
    chat, ocr = gpu.holders  # largest peak first
    assert (chat.app, chat.team, chat.model, chat.peak_memory_mib) == (
        "chat",
        "support",
        "meta-llama/Llama-3.1-8B-Instruct",
        7000.0,
    )
    assert (ocr.app, ocr.peak_memory_mib) == ("ocr", 2000.0)
    assert chat.gpu_seconds + ocr.gpu_seconds == pytest.approx(gpu.busy_gpu_seconds)


def test_a_gpu_idle_but_held_books_it_per_gpu_and_per_holder(ledger: UsageLedger) -> None:
    for second in range(121):
        ledger.add(idle_shared_gpu_snapshot(T0 + second))
    [gpu] = ledger.report(from_t=T0, to_t=T0 + 120, group_by="gpu").gpus
    assert gpu.idle_held_gpu_seconds == pytest.approx(120.0)
    assert [h.idle_held_gpu_seconds for h in gpu.holders] == pytest.approx([80.0, 40.0])


def test_per_gpu_books_survive_a_restart(db_path: Path, clock: FakeClock) -> None:
    first = UsageLedger(AccountingConfig(db_path=str(db_path)), clock=clock)
    feed_shared_gpu(first, T0, 90)
    first.close()
    again = UsageLedger(AccountingConfig(db_path=str(db_path)), clock=clock)
    [gpu] = again.report(from_t=T0, to_t=T0 + 90, group_by="gpu").gpus
    again.close()
    assert gpu.observed_seconds == pytest.approx(90.0)
    assert [h.peak_memory_mib for h in gpu.holders] == [4000.0, 2000.0]


def test_a_project_token_sees_only_the_gpus_and_holders_of_its_apps(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 60)
    [gpu] = ledger.report(from_t=T0, to_t=T0 + 60, group_by="app", apps={"ocr"}).gpus
    assert [h.app for h in gpu.holders] == ["ocr"]
    assert ledger.report(from_t=T0, to_t=T0 + 60, group_by="app", apps={"nobody"}).gpus == []


def test_steps_divide_the_window_and_add_up_to_its_rows(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 300)
    report = ledger.report(from_t=T0, to_t=T0 + 600, group_by="app", bucket_s=120)
    assert [(b.from_t, b.to_t) for b in report.buckets] == [
        (T0, T0 + 120),
        (T0 + 120, T0 + 240),
        (T0 + 240, T0 + 360),
        (T0 + 360, T0 + 480),
        (T0 + 480, T0 + 600),
    ]
    chat = [sum(r.gpu_seconds for r in b.rows if r.group == "chat") for b in report.buckets]
    assert chat == pytest.approx([72.0, 72.0, 36.0, 0.0, 0.0])
    assert sum(chat) == pytest.approx(by_group(report)["chat"][0])
    assert report.buckets[-1].rows == []


def test_the_last_step_ends_with_the_window(ledger: UsageLedger) -> None:
    report = ledger.report(from_t=T0, to_t=T0 + 300, group_by="app", bucket_s=240)
    assert [(b.from_t, b.to_t) for b in report.buckets] == [(T0, T0 + 240), (T0 + 240, T0 + 300)]


def test_a_report_without_steps_has_none(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 60)
    assert ledger.report(from_t=T0, to_t=T0 + 60, group_by="app").buckets == []


@pytest.mark.parametrize("bucket_s", [0, -60, 90, 30])
def test_a_step_of_no_whole_minutes_is_a_value_error(ledger: UsageLedger, bucket_s: int) -> None:
    with pytest.raises(ValueError, match="bucket_s must be a whole number of minutes"):
        ledger.report(from_t=T0, to_t=T0 + 600, group_by="app", bucket_s=bucket_s)


def test_more_steps_than_a_report_holds_is_a_value_error(ledger: UsageLedger) -> None:
    with pytest.raises(ValueError, match="at most 1000 fit"):
        ledger.report(from_t=T0, to_t=T0 + 7 * 86400, group_by="app", bucket_s=60)


def test_the_report_carries_the_configured_price(db_path: Path, clock: FakeClock) -> None:
    books = UsageLedger(AccountingConfig(db_path=str(db_path), price_per_gpu_hour=2.5), clock=clock)
    try:
        assert books.report(from_t=T0, to_t=T0 + 60, group_by="app").price_per_gpu_hour == 2.5
    finally:
        books.close()


def test_books_written_before_idle_held_time_was_kept_are_read_and_extended(
    db_path: Path, clock: FakeClock
) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as old:
        old.execute(
            "CREATE TABLE usage_minute (minute INTEGER NOT NULL, gpu_uuid TEXT NOT NULL, "
            "app TEXT NOT NULL, team TEXT NOT NULL, container TEXT NOT NULL, model TEXT NOT NULL, "
            "method TEXT NOT NULL, gpu_seconds REAL NOT NULL, memory_mib_seconds REAL NOT NULL, "
            "energy_joules REAL NOT NULL, "
            "PRIMARY KEY (minute, gpu_uuid, app, team, container, model, method)) WITHOUT ROWID"
        )
        old.execute(
            "INSERT INTO usage_minute VALUES (?, 'GPU-x', 'chat', '', '', '', 'idle', 0, 10, 5)",
            (int(T0),),
        )
    books = UsageLedger(AccountingConfig(db_path=str(db_path)), clock=clock)
    try:
        for second in range(61):
            books.add(idle_shared_gpu_snapshot(T0 + 60 + second))
        report = books.report(from_t=T0, to_t=T0 + 120, group_by="app")
    finally:
        books.close()
    chat = next(r for r in report.rows if r.group == "chat")
    assert chat.idle_held_gpu_seconds == pytest.approx(40.0)
    assert chat.energy_joules == pytest.approx(5 + 60 * 225)  # the old minute is still read


def test_the_books_say_until_when_they_are_kept(ledger: UsageLedger) -> None:
    assert ledger.booked_until() is None
    feed_shared_gpu(ledger, T0, 90)  # the first minute committed, the second in progress
    assert ledger.booked_until() == T0 + 120


def test_database_runs_in_wal_mode(ledger: UsageLedger, db_path: Path) -> None:
    with sqlite3.connect(db_path) as reader:
        assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_books_survive_a_restart(db_path: Path, clock: FakeClock) -> None:
    config = AccountingConfig(db_path=str(db_path))
    first = UsageLedger(config, clock=clock)
    feed_shared_gpu(first, T0, 90)
    first.close()
    reopened = UsageLedger(config, clock=clock)
    report = reopened.report(from_t=T0, to_t=T0 + 120, group_by="app")
    reopened.close()
    assert by_group(report)["chat"] == pytest.approx((54.0, 360_000.0, 20_250.0))


def test_restart_within_a_minute_adds_to_that_minute(db_path: Path, clock: FakeClock) -> None:
    config = AccountingConfig(db_path=str(db_path))
    first = UsageLedger(config, clock=clock)
    feed_shared_gpu(first, T0, 20)
    first.close()
    second = UsageLedger(config, clock=clock)
    feed_shared_gpu(second, T0 + 30, 20)  # the restart gap (20 s to 30 s) is not billed
    second.close()
    third = UsageLedger(config, clock=clock)
    report = third.report(from_t=T0, to_t=T0 + 60, group_by="app")
    third.close()
    assert by_group(report)["chat"][0] == pytest.approx(24.0)


def test_minutes_older_than_retention_are_pruned(db_path: Path, clock: FakeClock) -> None:
    config = AccountingConfig(db_path=str(db_path), retention_days=1)
    first = UsageLedger(config, clock=clock)
    feed_shared_gpu(first, T0, 120)
    first.close()
    clock.advance(86400 + 120)
    later = UsageLedger(config, clock=clock)
    report = later.report(from_t=T0, to_t=T0 + 120, group_by="app")
    later.close()
    assert report.rows == []
    assert committed_minutes(db_path) == []


def test_minutes_within_retention_are_kept(db_path: Path, clock: FakeClock) -> None:
    config = AccountingConfig(db_path=str(db_path), retention_days=2)
    first = UsageLedger(config, clock=clock)
    feed_shared_gpu(first, T0, 120)
    first.close()
    clock.advance(86400)
    later = UsageLedger(config, clock=clock)
    later.close()
    assert committed_minutes(db_path) == [T0, T0 + 60]


def test_unknown_group_by_is_a_value_error_naming_the_choices(ledger: UsageLedger) -> None:
    choices = "app, team, model, container, gpu"
    with pytest.raises(ValueError, match=f"group_by must be one of {choices}"):
        # a value outside GroupBy, as a caller without a type checker could pass
        ledger.report(from_t=T0, to_t=T0 + 60, group_by="user")  # type: ignore[arg-type]


def test_from_after_to_is_a_value_error(ledger: UsageLedger) -> None:
    with pytest.raises(ValueError, match="from must not be later than to"):
        ledger.report(from_t=T0 + 60, to_t=T0, group_by="app")


def test_report_names_the_host_and_source_of_the_samples(ledger: UsageLedger) -> None:
    feed_shared_gpu(ledger, T0, 1)
    report = ledger.report(from_t=T0, to_t=T0 + 60, group_by="gpu")
    assert (report.host, report.source, report.group_by) == ("gpu-host-1", "replay", "gpu")


def test_kill_9_loses_at_most_the_minute_in_progress(db_path: Path) -> None:
    feeder = subprocess.Popen(
        [sys.executable, "-m", "tests.collector.ledger_feeder", str(db_path), str(T0)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert feeder.stdout is not None
        ready, _, _ = select.select([feeder.stdout], [], [], FEEDER_TIMEOUT_S)
        assert ready, f"the feeder did not finish within {FEEDER_TIMEOUT_S:.0f} s"
        assert feeder.stdout.readline().strip() == "fed"
        feeder.send_signal(signal.SIGKILL)
        assert feeder.wait(timeout=10) == -signal.SIGKILL
    finally:
        if feeder.poll() is None:
            feeder.kill()
            feeder.wait(timeout=10)
    assert committed_minutes(db_path) == [T0, T0 + 60]
    reopened = UsageLedger(AccountingConfig(db_path=str(db_path)), clock=lambda: T0)
    report = reopened.report(from_t=T0, to_t=T0 + 180, group_by="app")
    reopened.close()
    assert by_group(report)["chat"] == pytest.approx((72.0, 480_000.0, 27_000.0), rel=1e-3)


def test_books_of_the_replay_trace_add_up_to_its_busy_time_and_energy(
    replay_trace: Path, db_path: Path
) -> None:
    snapshots = load_trace(replay_trace)
    busy_s: dict[str, float] = defaultdict(float)
    energy_j = 0.0
    for previous, current in itertools.pairwise(snapshots):
        dt = current.collected_at - previous.collected_at
        if not 0 < dt <= MAX_INTERVAL_S:
            continue
        for gpu in current.gpus:
            busy_s[gpu.uuid] += (gpu.utilization_percent or 0.0) / 100 * dt
            energy_j += (gpu.power_watts or 0.0) * dt
    start, end = snapshots[0].collected_at, snapshots[-1].collected_at
    ledger = UsageLedger(AccountingConfig(db_path=str(db_path)), clock=lambda: end)
    for snapshot in snapshots:
        ledger.add(snapshot)
    by_gpu = ledger.report(from_t=start, to_t=end, group_by="gpu")
    by_app = ledger.report(from_t=start, to_t=end, group_by="app")
    ledger.close()
    assert {r.group: r.gpu_seconds for r in by_gpu.rows} == pytest.approx(busy_s, rel=1e-3)
    assert by_app.total_energy_joules == pytest.approx(energy_j, rel=1e-3)
    assert by_app.total_gpu_hours == pytest.approx(sum(busy_s.values()) / 3600, rel=1e-3)
