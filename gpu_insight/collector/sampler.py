"""The one sampler thread: reads the backend in tiers and publishes a snapshot every fast tick.

Tiers (see SamplingConfig): the fast tier (GPU state and processes) every tick; per-process
utilization (~2 ms per GPU in NVML) every few seconds; energy, ECC, remapped rows, NVLink and
PCIe every slow tick.
The newest slower-tier values are carried into every snapshot. Readers never call the backend:
they read the store.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gpu_insight.collector.backends.base import (
    Backend,
    FastReading,
    ProcessUtilization,
    SlowReading,
)
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import AlertSource, EngineSource, SelfMetrics
from gpu_insight.collector.store import SnapshotStore
from gpu_insight.engines import fills_gpu_memory
from gpu_insight.schemas import Attribution, Gpu, GpuProcess, HealthStatus, Snapshot

if TYPE_CHECKING:
    from gpu_insight.collector.attribution import ProcessIdentity

log = logging.getLogger(__name__)

ATTRIBUTION_FAILED = "attribution failed for this process; see the collector's log"


class ProcessDescriber(Protocol):
    def describe(self, pid: int) -> ProcessIdentity | None: ...


class Sampler:
    def __init__(
        self,
        *,
        sampling: SamplingConfig,
        backend: Backend,
        store: SnapshotStore,
        engines: EngineSource,
        alerts: AlertSource,
        self_metrics: SelfMetrics,
        hostname: str,
        describer: ProcessDescriber | None = None,  # None: the backend attributes processes
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._sampling = sampling
        self._backend = backend
        self._store = store
        self._engines = engines
        self._alerts = alerts
        self._metrics = self_metrics
        self._hostname = hostname
        self._describer = describer
        self._clock = clock
        self._timer = timer
        self._next_process_utilization_at = float("-inf")
        self._next_slow_at = float("-inf")
        self._utilization: dict[tuple[str, int], ProcessUtilization] = {}
        self._slow = SlowReading()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-insight-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        interval = self._sampling.fast_interval_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.tick_safely()
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (a slow tick): skip the missed ticks, don't burst
                next_at, delay = time.monotonic(), 0.0
            self._stop.wait(delay)

    def tick_safely(self) -> Snapshot | None:
        """One tick; an exception is logged and counted, and the next tick runs as usual."""
        try:
            return self.tick()
        except Exception:
            self._metrics.count_error("sampler_tick")
            log.exception("sampling tick failed")
            return None

    # -- one tick ----------------------------------------------------------------------------

    def tick(self) -> Snapshot:
        now = self._clock()
        started = self._timer()
        fast = self._backend.sample_fast(now)
        if fast.down_reason is None:
            self._run_slower_tiers(now)
        processes = self._describe(fast.processes)
        gpus = [self._with_slow_values(gpu) for gpu in fast.gpus]
        health, reason = _health(fast)
        snapshot = Snapshot(
            host=self._hostname,
            source=self._backend.source,
            collected_at=now,
            health=health,
            health_reason=reason,
            driver_version=self._slow.driver_version,
            cuda_version=self._slow.cuda_version,
            nvml_version=self._slow.nvml_version,
            gpus=gpus,
            processes=[_with_reservation(self._with_utilization(p)) for p in processes],
        )
        snapshot.sample_duration_s = self._timer() - started
        self._engines.observe(snapshot.processes)
        snapshot.engines = self._engines.latest()
        snapshot.alerts = self._alerts.evaluate(snapshot)
        self._store.publish(snapshot)
        self._metrics.record_sample(now, snapshot.sample_duration_s)
        return snapshot

    def _run_slower_tiers(self, now: float) -> None:
        if now >= self._next_process_utilization_at:
            self._next_process_utilization_at = now + self._sampling.process_utilization_interval_s
            # Replaced, not merged: a process without samples in this window was idle.
            self._utilization = {
                (u.gpu_uuid, u.pid): u for u in self._backend.sample_process_utilization(now)
            }
        if now >= self._next_slow_at:
            self._next_slow_at = now + self._sampling.slow_interval_s
            self._slow = self._backend.sample_slow(now)

    def _describe(self, processes: list[GpuProcess]) -> list[GpuProcess]:
        """Adds who each process is; a process gone since NVML listed it is dropped."""
        if self._describer is None or self._backend.attributes_processes:
            return processes
        described = []
        for process in processes:
            try:
                identity = self._describer.describe(process.pid)
            except Exception:
                self._metrics.count_error("attribution")
                log.exception("attributing pid %d failed", process.pid)
                process.attribution = Attribution(unattributed_reason=ATTRIBUTION_FAILED)
                described.append(process)
                continue
            if identity is None:
                continue
            process.name = identity.name
            process.cmdline = identity.cmdline
            process.user = identity.user
            process.attribution = identity.attribution
            described.append(process)
        return described

    def _with_utilization(self, process: GpuProcess) -> GpuProcess:
        reading = self._utilization.get((process.gpu_uuid, process.pid))
        if reading is not None:
            process.sm_utilization_percent = reading.sm_utilization_percent
            process.memory_utilization_percent = reading.memory_utilization_percent
            process.utilization_seen_at = reading.seen_at
        return process

    def _with_slow_values(self, gpu: Gpu) -> Gpu:
        slow = self._slow.gpus.get(gpu.uuid)
        if slow is None or gpu.health == "lost":
            return gpu
        for reading in dataclasses.fields(slow):  # each named as the Gpu field it fills
            setattr(gpu, reading.name, getattr(slow, reading.name))
        if slow.nvlinks is not None:
            gpu.nvlink_active = any(link.active for link in slow.nvlinks)
        return gpu


def _with_reservation(process: GpuProcess) -> GpuProcess:
    """Marks memory its engine reserves on purpose; here, once attribution is final, for live
    and replayed processes alike."""
    process.reserved_by_engine = fills_gpu_memory(process.attribution.engine)
    return process


def _health(fast: FastReading) -> tuple[HealthStatus, str | None]:
    if fast.down_reason is not None:
        return "down", fast.down_reason
    problems = [f"GPU {gpu.index} {gpu.health}" for gpu in fast.gpus if gpu.health != "ok"]
    if problems:
        return "degraded", "; ".join(problems)
    return "ok", None
