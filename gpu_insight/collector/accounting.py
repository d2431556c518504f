"""GPU usage books: per-minute rollups per GPU × app × team × container × model, in SQLite.

Every published snapshot closes the interval since the previous one; `usage_split` divides it
between the GPU's processes and the amounts are added to the minute(s) the interval covers
(an interval that crosses a minute boundary is split in proportion). Time is the snapshots'
`collected_at`; the clock only decides what retention prunes.

Durability: a minute is committed as soon as a sample of a later minute arrives, so a crash
(even `kill -9`) loses at most the minute in progress; `close()` also writes that one. Rows are
added to, never replaced, so a restart within a minute merges with what was written before.
The database runs in WAL mode with `synchronous=NORMAL`: committed minutes survive a crash of
the process; only a power loss may take the last few.

Intervals longer than MAX_INTERVAL_S (the collector was stopped or stalled) are not billed:
nobody knows what ran in them.
"""

from __future__ import annotations

import math
import socket
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from gpu_insight.collector.config import AccountingConfig
from gpu_insight.collector.gpu_books import GpuBooks
from gpu_insight.collector.usage_split import Share, UsageKey, split_interval
from gpu_insight.collector.usage_totals import UsageTotal, UsageTotals
from gpu_insight.schemas import (
    MAX_USAGE_BUCKETS,
    GpuProcess,
    GroupBy,
    ShareMethod,
    Snapshot,
    Source,
    UsageBucket,
    UsageReport,
    UsageRow,
    choice_of,
)

MINUTE_S = 60
MAX_INTERVAL_S = 120.0
PRUNE_EVERY_S = 3600.0
UNATTRIBUTED = "unattributed"

# group_by → column. Unknown values are stored as '' (SQLite treats NULLs in a key as distinct,
# which would defeat the upsert).
GROUP_COLUMNS: dict[str, str] = {
    "app": "app",
    "team": "team",
    "model": "model",
    "container": "container",
    "gpu": "gpu_uuid",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_minute (
    minute INTEGER NOT NULL,  -- epoch seconds at the start of the minute
    gpu_uuid TEXT NOT NULL,
    app TEXT NOT NULL,
    team TEXT NOT NULL,
    container TEXT NOT NULL,
    model TEXT NOT NULL,
    method TEXT NOT NULL,  -- schemas.ShareMethod, '' when nothing was split
    gpu_seconds REAL NOT NULL,
    memory_mib_seconds REAL NOT NULL,
    energy_joules REAL NOT NULL,
    idle_held_gpu_seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, gpu_uuid, app, team, container, model, method)
) WITHOUT ROWID
"""
# Books written before idle-held time was kept gain the column; their minutes count 0 there.
ADD_IDLE_HELD = "ALTER TABLE usage_minute ADD COLUMN idle_held_gpu_seconds REAL NOT NULL DEFAULT 0"

UPSERT = """
INSERT INTO usage_minute VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, gpu_uuid, app, team, container, model, method) DO UPDATE SET
    gpu_seconds = gpu_seconds + excluded.gpu_seconds,
    memory_mib_seconds = memory_mib_seconds + excluded.memory_mib_seconds,
    energy_joules = energy_joules + excluded.energy_joules,
    idle_held_gpu_seconds = idle_held_gpu_seconds + excluded.idle_held_gpu_seconds
"""


@dataclass
class _Amounts:
    gpu_seconds: float = 0.0
    memory_mib_seconds: float = 0.0
    energy_joules: float = 0.0
    idle_held_gpu_seconds: float = 0.0

    def add(
        self,
        gpu_seconds: float,
        memory_mib_seconds: float,
        energy_joules: float,
        idle_held_gpu_seconds: float,
    ) -> None:
        self.gpu_seconds += gpu_seconds
        self.memory_mib_seconds += memory_mib_seconds
        self.energy_joules += energy_joules
        self.idle_held_gpu_seconds += idle_held_gpu_seconds


class _Tally:
    """Amounts and share methods per (step, group) while a report is summed up."""

    def __init__(self) -> None:
        self.amounts: dict[tuple[int, str], _Amounts] = defaultdict(_Amounts)
        self.methods: dict[tuple[int, str], set[ShareMethod]] = defaultdict(set)

    def count(
        self,
        step: int,
        group: str,
        method: ShareMethod | None,
        gpu_s: float,
        mib_s: float,
        joules: float,
        held_s: float,
    ) -> None:
        key = (step, group or UNATTRIBUTED)
        self.amounts[key].add(gpu_s, mib_s, joules, held_s)
        if method is not None:
            self.methods[key].add(method)

    def rows(self, step: int | None = None) -> list[UsageRow]:
        """One step's rows, or every step's added up (`None`), largest GPU-seconds first."""
        totals: dict[str, _Amounts] = defaultdict(_Amounts)
        methods: dict[str, set[ShareMethod]] = defaultdict(set)
        for (at, group), amounts in self.amounts.items():
            if step is None or at == step:
                totals[group].add(
                    amounts.gpu_seconds,
                    amounts.memory_mib_seconds,
                    amounts.energy_joules,
                    amounts.idle_held_gpu_seconds,
                )
                methods[group] |= self.methods[(at, group)]
        rows = [
            UsageRow(
                group=group,
                gpu_seconds=amounts.gpu_seconds,
                gpu_hours=amounts.gpu_seconds / 3600,
                memory_mib_seconds=amounts.memory_mib_seconds,
                energy_joules=amounts.energy_joules,
                share_methods=sorted(methods[group]),
                idle_held_gpu_seconds=amounts.idle_held_gpu_seconds,
            )
            for group, amounts in totals.items()
        ]
        rows.sort(key=lambda r: (-r.gpu_seconds, -r.energy_joules, r.group))
        return rows


OpenMinute = dict[tuple[UsageKey, ShareMethod | None], _Amounts]


_SHARE_METHODS: tuple[ShareMethod, ...] = get_args(ShareMethod)


def _stored_method(text: str) -> ShareMethod | None:
    """A `method` column's value: '' (nothing was split) is None."""
    method = choice_of(text, _SHARE_METHODS)
    if method is None and text:
        raise ValueError(f"unknown share method in the usage database: {text!r}")
    return method


def minute_of(t: float) -> int:
    return math.floor(t / MINUTE_S) * MINUTE_S


def minute_pieces(start: float, end: float) -> Iterator[tuple[int, float]]:
    """(minute, fraction of the interval) for each minute that `(start, end]` overlaps."""
    length = end - start
    at = start
    while at < end:
        minute = minute_of(at)
        piece_end = min(end, minute + MINUTE_S)
        yield minute, (piece_end - at) / length
        at = piece_end


class UsageLedger:
    """Implements runtime.UsageSource; `add` is a store listener. Thread-safe."""

    def __init__(self, config: AccountingConfig, clock: Callable[[], float] = time.time) -> None:
        self._retention_s = config.retention_days * 86400.0
        self._clock = clock
        self._lock = threading.Lock()
        path = Path(config.db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.execute(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(usage_minute)")}
            if "idle_held_gpu_seconds" not in columns:
                self._db.execute(ADD_IDLE_HELD)
        self._gpus = GpuBooks(self._db)
        self._price = config.price_per_gpu_hour
        self._open: dict[int, OpenMinute] = {}
        self._totals = UsageTotals()  # the same shares, as counters for /metrics
        self._last_t: float | None = None
        self._host = socket.gethostname()
        self._source: Source = "nvml"
        self._pruned_at = -math.inf
        self._prune_if_due()

    def add(self, snapshot: Snapshot) -> None:
        """Accounts the interval since the previous snapshot; commits every minute it closed."""
        with self._lock:
            self._host, self._source = snapshot.host, snapshot.source
            t, previous = snapshot.collected_at, self._last_t
            self._last_t = t
            if previous is not None and 0 < t - previous <= MAX_INTERVAL_S:
                shares = _shares(snapshot, t - previous)
                self._gpus.add(snapshot, shares, t - previous, minute_pieces(previous, t))
                self._totals.add(shares, t)
                for minute, fraction in minute_pieces(previous, t):
                    books = self._open.setdefault(minute, defaultdict(_Amounts))
                    for share in shares:
                        books[(share.key, share.method)].add(
                            share.gpu_seconds * fraction,
                            share.memory_mib_seconds * fraction,
                            share.energy_joules * fraction,
                            share.idle_held_gpu_seconds * fraction,
                        )
            self._commit(before=minute_of(t))

    def report(
        self,
        *,
        from_t: float,
        to_t: float,
        group_by: GroupBy,
        apps: set[str] | None = None,
        bucket_s: int | None = None,
    ) -> UsageReport:
        """Usage between `from_t` and `to_t` (epoch seconds), one row per `group_by` value.

        Books are kept per minute, so every minute that overlaps `[from_t, to_t)` counts in full;
        the report's `from_t`/`to_t` are the minute-aligned span actually covered. The minute in
        progress is included. Rows are sorted by GPU-seconds, largest first; unknown values are
        grouped as "unattributed" (for `gpu`, the group is the GPU's uuid). `apps` (a project
        token's apps) keeps only their rows, so unattributed usage is left out. `bucket_s` (whole
        minutes) adds the window in steps of that length from the covered start, every step
        listed even when empty. Raises ValueError for an unknown `group_by`, `from_t` after
        `to_t` or a step that is not whole minutes or makes more than MAX_USAGE_BUCKETS steps.
        """
        column = GROUP_COLUMNS.get(group_by)
        if column is None:
            raise ValueError(f"group_by must be one of {', '.join(GROUP_COLUMNS)}")
        if from_t > to_t:
            raise ValueError("from must not be later than to")
        first, end = minute_of(from_t), math.ceil(to_t / MINUTE_S) * MINUTE_S
        step_s = end - first if bucket_s is None else bucket_s
        steps = _step_count(first, end, bucket_s)
        tally = _Tally()
        app_filter = ""
        params: list[int | str] = [first, max(step_s, 1), first, end]
        if apps is not None:
            app_filter = f" AND app IN ({', '.join('?' * len(apps))})"
            params.extend(sorted(apps))
        with self._lock:
            for step, *row in self._db.execute(
                f"SELECT (minute - ?) / ?, {column}, method, SUM(gpu_seconds), "
                "SUM(memory_mib_seconds), SUM(energy_joules), SUM(idle_held_gpu_seconds) "
                f"FROM usage_minute WHERE minute >= ? AND minute < ?{app_filter} "
                f"GROUP BY 1, {column}, method",
                params,
            ):
                stored_group, stored_method, *sums = row
                tally.count(step, stored_group, _stored_method(stored_method), *sums)
            for minute, books in self._open.items():
                if not first <= minute < end:
                    continue
                for (key, method), amounts in books.items():
                    if apps is not None and key.app not in apps:
                        continue
                    group = key.gpu_uuid if column == "gpu_uuid" else getattr(key, column)
                    tally.count(
                        (minute - first) // max(step_s, 1),
                        group or "",
                        method,
                        amounts.gpu_seconds,
                        amounts.memory_mib_seconds,
                        amounts.energy_joules,
                        amounts.idle_held_gpu_seconds,
                    )
            host, source = self._host, self._source
            gpus = self._gpus.report(first, end, apps)
        rows = tally.rows()
        buckets = [
            UsageBucket(
                from_t=first + n * step_s,
                to_t=min(end, first + (n + 1) * step_s),
                rows=tally.rows(n),
            )
            for n in range(steps)
        ]
        return UsageReport(
            host=host,
            source=source,
            from_t=first,
            to_t=end,
            group_by=group_by,
            rows=rows,
            total_gpu_hours=sum(r.gpu_hours for r in rows),
            total_energy_joules=sum(r.energy_joules for r in rows),
            buckets=buckets,
            price_per_gpu_hour=self._price,
            gpus=gpus,
        )

    def booked_until(self) -> float | None:
        """The end of the newest minute in the books (committed or in progress); None when
        they are empty."""
        with self._lock:
            (newest,) = self._db.execute("SELECT MAX(minute) FROM usage_minute").fetchone()
            minutes = [m for m in (newest, *self._open) if m is not None]
        return max(minutes) + MINUTE_S if minutes else None

    def totals(self) -> list[UsageTotal]:
        """Usage since the collector started, per GPU × app × team × container × model."""
        return self._totals.totals()

    def close(self) -> None:
        """Writes the minute in progress too, and closes the database."""
        with self._lock:
            self._commit(before=math.inf)
            self._db.close()

    def _commit(self, *, before: float) -> None:
        closed = sorted(minute for minute in self._open if minute < before)
        if not closed:
            return
        rows = [
            (
                minute,
                key.gpu_uuid,
                key.app or "",
                key.team or "",
                key.container or "",
                key.model or "",
                method or "",
                amounts.gpu_seconds,
                amounts.memory_mib_seconds,
                amounts.energy_joules,
                amounts.idle_held_gpu_seconds,
            )
            for minute in closed
            for (key, method), amounts in self._open[minute].items()
        ]
        with self._db:
            self._db.executemany(UPSERT, rows)
            self._gpus.commit(closed)
        # Dropped only once committed: a failed write is retried with the next minute.
        for minute in closed:
            del self._open[minute]
        self._gpus.forget(closed)
        self._prune_if_due()

    def _prune_if_due(self) -> None:
        now = self._clock()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        with self._db:
            oldest = minute_of(now - self._retention_s)
            self._db.execute("DELETE FROM usage_minute WHERE minute < ?", (oldest,))
            self._gpus.prune(oldest)
        self._pruned_at = now


def _step_count(first: int, end: int, bucket_s: int | None) -> int:
    """How many steps of `bucket_s` cover `[first, end)`; 0 without steps."""
    if bucket_s is None:
        return 0
    if bucket_s <= 0 or bucket_s % MINUTE_S:
        raise ValueError(f"bucket_s must be a whole number of minutes in seconds, got {bucket_s}")
    steps = math.ceil((end - first) / bucket_s)
    if steps > MAX_USAGE_BUCKETS:
        raise ValueError(
            f"bucket_s {bucket_s} makes {steps} steps of the window; "
            f"at most {MAX_USAGE_BUCKETS} fit"
        )
    return steps


def _shares(snapshot: Snapshot, dt_s: float) -> list[Share]:
    by_gpu: dict[str, list[GpuProcess]] = defaultdict(list)
    for process in snapshot.processes:
        by_gpu[process.gpu_uuid].append(process)
    return [share for gpu in snapshot.gpus for share in split_interval(gpu, by_gpu[gpu.uuid], dt_s)]
