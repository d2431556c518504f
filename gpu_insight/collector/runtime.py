"""What the collector's parts share at run time, and the small interfaces between them.

The sampler thread builds a snapshot each tick, asks the alert engine for the active alerts,
publishes it to the store, and the store's listeners (history, accounting, recorder) take it
from there. The HTTP API reads only from these objects: never from NVML.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from gpu_insight.collector.config import CollectorConfig
from gpu_insight.collector.notify.worker import Notifier
from gpu_insight.collector.store import SnapshotStore
from gpu_insight.collector.usage_totals import UsageTotal
from gpu_insight.schemas import (
    Alert,
    EngineMetrics,
    GpuProcess,
    GroupBy,
    Snapshot,
    Source,
    UsageReport,
)


class HistorySource(Protocol):
    def add(self, snapshot: Snapshot) -> None: ...

    @property
    def revision(self) -> int:
        """Changes with every snapshot added, so answers can be kept until it does."""
        ...

    def query_json(
        self, *, seconds: float, gpu: str | None = None, step_s: float | None = None
    ) -> str:
        """The last `seconds` of every GPU (or of `gpu`) as a History's JSON text."""
        ...


class AlertSource(Protocol):
    def evaluate(self, snapshot: Snapshot) -> list[Alert]:
        """Advances every rule with this snapshot; returns the pending and firing alerts."""
        ...

    def alerts(self, *, include_resolved: bool = False) -> list[Alert]: ...


class UsageSource(Protocol):
    def add(self, snapshot: Snapshot) -> None: ...

    def report(
        self,
        *,
        from_t: float,
        to_t: float,
        group_by: GroupBy,
        apps: set[str] | None = None,
        bucket_s: int | None = None,
    ) -> UsageReport: ...

    def totals(self) -> list[UsageTotal]:
        """Usage since start per GPU × app × team × container × model (the /metrics counters)."""
        ...


class EngineSource(Protocol):
    def observe(self, processes: list[GpuProcess]) -> None:
        """Learns which serving engines run now (from attributed processes) to scrape them."""
        ...

    def latest(self) -> list[EngineMetrics]: ...


@dataclass
class SelfMetrics:
    """The collector's own health, exported on /metrics."""

    samples_total: int = 0
    last_sample_at: float | None = None
    last_sample_duration_s: float | None = None
    errors_by_call: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_error(self, call: str) -> None:
        with self._lock:
            self.errors_by_call[call] += 1

    def record_sample(self, at: float, duration_s: float) -> None:
        with self._lock:
            self.samples_total += 1
            self.last_sample_at = at
            self.last_sample_duration_s = duration_s


@dataclass
class CollectorRuntime:
    config: CollectorConfig
    hostname: str
    source: Source
    store: SnapshotStore
    history: HistorySource
    alerts: AlertSource
    usage: UsageSource
    engines: EngineSource
    self_metrics: SelfMetrics
    started_at: float
    notifier: Notifier | None = None  # None only where a test serves the API without one
