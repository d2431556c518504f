"""The usage books per GPU: how long each GPU was watched, how busy and how full it got, and who
held memory on it with how much at most. Right-sizing and consolidating GPUs read these.

Kept per minute beside the ledger's rows, in the same database and the same commits
(`UsageLedger` calls `add`, `commit`, `prune` and `report` under its lock):

- `gpu_minute`: per GPU the seconds observed, the busy seconds, the peak memory used and the
  peak utilization, with the GPU's name and total memory as last seen.
- `holder_minute`: per GPU × app × team × container × model (the ledger's key) the engine,
  the peak memory (all its processes on that GPU together, in one sample), its GPU-seconds and
  its idle-held GPU-seconds (the same `usage_split` shares the ledger adds up).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import get_args

from gpu_insight.collector.usage_split import Share, UsageKey, usage_key
from gpu_insight.schemas import Engine, GpuUsage, HolderUsage, Snapshot

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS gpu_minute (
    minute INTEGER NOT NULL,
    gpu_uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    memory_total_mib REAL,
    observed_seconds REAL NOT NULL,
    busy_seconds REAL NOT NULL,
    peak_memory_used_mib REAL,
    peak_utilization_percent REAL,
    PRIMARY KEY (minute, gpu_uuid)
) WITHOUT ROWID
""",
    """
CREATE TABLE IF NOT EXISTS holder_minute (
    minute INTEGER NOT NULL,
    gpu_uuid TEXT NOT NULL,
    app TEXT NOT NULL,
    team TEXT NOT NULL,
    container TEXT NOT NULL,
    model TEXT NOT NULL,
    engine TEXT NOT NULL,
    peak_memory_mib REAL NOT NULL,
    gpu_seconds REAL NOT NULL,
    idle_held_gpu_seconds REAL NOT NULL,
    PRIMARY KEY (minute, gpu_uuid, app, team, container, model)
) WITHOUT ROWID
""",
)
# A peak that is NULL (unknown) on one side keeps the other side's.
_PEAK = "MAX(COALESCE({0}, excluded.{0}), COALESCE(excluded.{0}, {0}))"
GPU_UPSERT = f"""
INSERT INTO gpu_minute VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, gpu_uuid) DO UPDATE SET
    name = excluded.name,
    memory_total_mib = COALESCE(excluded.memory_total_mib, memory_total_mib),
    observed_seconds = observed_seconds + excluded.observed_seconds,
    busy_seconds = busy_seconds + excluded.busy_seconds,
    peak_memory_used_mib = {_PEAK.format("peak_memory_used_mib")},
    peak_utilization_percent = {_PEAK.format("peak_utilization_percent")}
"""
HOLDER_UPSERT = """
INSERT INTO holder_minute VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, gpu_uuid, app, team, container, model) DO UPDATE SET
    engine = excluded.engine,
    peak_memory_mib = MAX(peak_memory_mib, excluded.peak_memory_mib),
    gpu_seconds = gpu_seconds + excluded.gpu_seconds,
    idle_held_gpu_seconds = idle_held_gpu_seconds + excluded.idle_held_gpu_seconds
"""


def _peak(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _GpuMinute:
    name: str = ""
    memory_total_mib: float | None = None
    observed_seconds: float = 0.0
    busy_seconds: float = 0.0
    peak_memory_used_mib: float | None = None
    peak_utilization_percent: float | None = None

    def add(self, other: _GpuMinute) -> None:
        self.name = other.name or self.name
        self.memory_total_mib = other.memory_total_mib or self.memory_total_mib
        self.observed_seconds += other.observed_seconds
        self.busy_seconds += other.busy_seconds
        self.peak_memory_used_mib = _peak(self.peak_memory_used_mib, other.peak_memory_used_mib)
        self.peak_utilization_percent = _peak(
            self.peak_utilization_percent, other.peak_utilization_percent
        )


@dataclass
class _HolderMinute:
    engine: str = "unknown"
    peak_memory_mib: float = 0.0
    gpu_seconds: float = 0.0
    idle_held_gpu_seconds: float = 0.0

    def add(self, other: _HolderMinute) -> None:
        if other.engine != "unknown":
            self.engine = other.engine
        self.peak_memory_mib = max(self.peak_memory_mib, other.peak_memory_mib)
        self.gpu_seconds += other.gpu_seconds
        self.idle_held_gpu_seconds += other.idle_held_gpu_seconds


@dataclass
class _Minute:
    gpus: dict[str, _GpuMinute] = field(default_factory=lambda: defaultdict(_GpuMinute))
    holders: dict[UsageKey, _HolderMinute] = field(
        default_factory=lambda: defaultdict(_HolderMinute)
    )


class GpuBooks:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        with db:
            for statement in SCHEMA:
                db.execute(statement)
        self._open: dict[int, _Minute] = {}

    def add(
        self,
        snapshot: Snapshot,
        shares: list[Share],
        dt_s: float,
        pieces: Iterable[tuple[int, float]],
    ) -> None:
        """The interval of `dt_s` seconds ending at `snapshot`, cut into minute `pieces`
        (minute, fraction) as the ledger cut it, with the ledger's `shares` of it."""
        gpus, holders = _gpu_figures(snapshot, dt_s), _holder_figures(snapshot, shares)
        for minute, fraction in pieces:
            books = self._open.setdefault(minute, _Minute())
            for uuid, gpu in gpus.items():
                books.gpus[uuid].add(_scaled_gpu(gpu, fraction))
            for key, holder in holders.items():
                books.holders[key].add(_scaled_holder(holder, fraction))

    def commit(self, minutes: list[int]) -> None:
        """Writes these open minutes, inside the ledger's transaction; `forget` drops them once
        it committed."""
        minutes = [minute for minute in minutes if minute in self._open]
        gpu_rows = [
            (
                minute,
                uuid,
                g.name,
                g.memory_total_mib,
                g.observed_seconds,
                g.busy_seconds,
                g.peak_memory_used_mib,
                g.peak_utilization_percent,
            )
            for minute in minutes
            for uuid, g in self._open[minute].gpus.items()
        ]
        holder_rows = [
            (
                minute,
                *_key_columns(key),
                h.engine,
                h.peak_memory_mib,
                h.gpu_seconds,
                h.idle_held_gpu_seconds,
            )
            for minute in minutes
            for key, h in self._open[minute].holders.items()
        ]
        self._db.executemany(GPU_UPSERT, gpu_rows)
        self._db.executemany(HOLDER_UPSERT, holder_rows)

    def forget(self, minutes: list[int]) -> None:
        for minute in minutes:
            self._open.pop(minute, None)

    def prune(self, before_minute: int) -> None:
        for table in ("gpu_minute", "holder_minute"):
            self._db.execute(f"DELETE FROM {table} WHERE minute < ?", (before_minute,))

    def report(self, first: int, end: int, apps: set[str] | None) -> list[GpuUsage]:
        """Every GPU watched in `[first, end)` with its holders; with `apps`, only the GPUs
        where those apps held memory, and only their holders."""
        gpus: dict[str, _GpuMinute] = defaultdict(_GpuMinute)
        holders: dict[UsageKey, _HolderMinute] = defaultdict(_HolderMinute)
        for uuid, *row in self._db.execute(
            "SELECT gpu_uuid, name, memory_total_mib, observed_seconds, busy_seconds, "
            "peak_memory_used_mib, peak_utilization_percent FROM gpu_minute "
            "WHERE minute >= ? AND minute < ? ORDER BY minute",
            (first, end),
        ):
            gpus[uuid].add(_GpuMinute(*row))
        for uuid, app, team, container, model, *row in self._db.execute(
            "SELECT gpu_uuid, app, team, container, model, engine, peak_memory_mib, "
            "gpu_seconds, idle_held_gpu_seconds FROM holder_minute "
            "WHERE minute >= ? AND minute < ? ORDER BY minute",
            (first, end),
        ):
            key = UsageKey(uuid, app or None, team or None, container or None, model or None)
            holders[key].add(_HolderMinute(*row))
        for minute in sorted(self._open):
            if first <= minute < end:
                for uuid, gpu in self._open[minute].gpus.items():
                    gpus[uuid].add(gpu)
                for key, holder in self._open[minute].holders.items():
                    holders[key].add(holder)
        if apps is not None:
            holders = {k: h for k, h in holders.items() if k.app in apps}
            gpus = {u: g for u, g in gpus.items() if any(k.gpu_uuid == u for k in holders)}
        return [_gpu_usage(uuid, gpu, holders) for uuid, gpu in sorted(gpus.items())]


def _gpu_figures(snapshot: Snapshot, dt_s: float) -> dict[str, _GpuMinute]:
    return {
        gpu.uuid: _GpuMinute(
            name=gpu.name,
            memory_total_mib=gpu.memory_total_mib,
            observed_seconds=dt_s,
            busy_seconds=(gpu.utilization_percent or 0.0) / 100 * dt_s,
            peak_memory_used_mib=gpu.memory_used_mib,
            peak_utilization_percent=gpu.utilization_percent,
        )
        for gpu in snapshot.gpus
    }


def _holder_figures(snapshot: Snapshot, shares: list[Share]) -> dict[UsageKey, _HolderMinute]:
    """Each holder's memory in this sample (its processes on one GPU added up) and shares."""
    found: dict[UsageKey, _HolderMinute] = defaultdict(_HolderMinute)
    for process in snapshot.processes:
        holder = found[usage_key(process)]
        holder.peak_memory_mib += max(process.used_memory_mib or 0.0, 0.0)
        if process.attribution.engine != "unknown":
            holder.engine = process.attribution.engine
    for share in shares:
        if share.key in found:
            found[share.key].gpu_seconds += share.gpu_seconds
            found[share.key].idle_held_gpu_seconds += share.idle_held_gpu_seconds
    return {key: holder for key, holder in found.items() if holder.peak_memory_mib > 0}


def _scaled_gpu(gpu: _GpuMinute, fraction: float) -> _GpuMinute:
    return _GpuMinute(
        gpu.name,
        gpu.memory_total_mib,
        gpu.observed_seconds * fraction,
        gpu.busy_seconds * fraction,
        gpu.peak_memory_used_mib,
        gpu.peak_utilization_percent,
    )


def _scaled_holder(holder: _HolderMinute, fraction: float) -> _HolderMinute:
    return _HolderMinute(
        holder.engine,
        holder.peak_memory_mib,
        holder.gpu_seconds * fraction,
        holder.idle_held_gpu_seconds * fraction,
    )


def _key_columns(key: UsageKey) -> tuple[str, str, str, str, str]:
    return key.gpu_uuid, key.app or "", key.team or "", key.container or "", key.model or ""


def _gpu_usage(uuid: str, gpu: _GpuMinute, holders: dict[UsageKey, _HolderMinute]) -> GpuUsage:
    mine = sorted(
        ((k, h) for k, h in holders.items() if k.gpu_uuid == uuid),
        key=lambda item: -item[1].peak_memory_mib,
    )
    return GpuUsage(
        gpu_uuid=uuid,
        name=gpu.name or None,
        memory_total_mib=gpu.memory_total_mib,
        observed_seconds=gpu.observed_seconds,
        busy_gpu_seconds=gpu.busy_seconds,
        idle_held_gpu_seconds=sum(h.idle_held_gpu_seconds for _, h in mine),
        peak_memory_used_mib=gpu.peak_memory_used_mib,
        peak_utilization_percent=gpu.peak_utilization_percent,
        holders=[
            HolderUsage(
                app=k.app,
                team=k.team,
                container=k.container,
                model=k.model,
                engine=_engine(h.engine),
                peak_memory_mib=h.peak_memory_mib,
                gpu_seconds=h.gpu_seconds,
                idle_held_gpu_seconds=h.idle_held_gpu_seconds,
            )
            for k, h in mine
        ],
    )


def _engine(name: str) -> Engine:
    return name if name in get_args(Engine) else "unknown"  # type: ignore[return-value]
