"""`/metrics`: a prometheus-client custom collector over the cached snapshot.

Series exist only for what the latest snapshot holds (no stale PIDs or containers to remove), and
a scrape costs one pass over the snapshot: it never calls NVML. Names follow Prometheus
conventions: base units (`_bytes`, `_hertz`, `_celsius`, `_ratio` 0–1), counters end in
`_total`. Per-GPU series carry only `uuid` and `gpu` (the index); identity lives in `gpu_info`,
joined with `* on(uuid) group_left(name) gpu_info`. No `pid` label; per-process numbers are
summed per app/container. Label names avoid Prometheus target labels (`container`, `pod`,
`instance`, `job`, `namespace`), hence `app_container` and `instance_url`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from gpu_insight.clock_events import mask_of
from gpu_insight.collector.notify.worker import Notifier
from gpu_insight.collector.render_cache import PerSampleCache
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.collector.scope import Apps, scope_snapshot
from gpu_insight.collector.usage_metrics import usage_families, usage_metrics
from gpu_insight.schemas import (
    CLOCK_EVENT_REASONS,
    EngineMetrics,
    Gpu,
    GpuHealth,
    GpuProcess,
    LoadedModel,
    Snapshot,
)

BYTES_PER_MIB = 1024 * 1024
HERTZ_PER_MHZ = 1_000_000
GPU_LABELS = ("uuid", "gpu")
APP_LABELS = (*GPU_LABELS, "app", "team", "app_container", "model", "engine")
ENGINE_LABELS = ("engine", "model", "app", "team", "instance_url")
GPU_HEALTH_STATES: tuple[GpuHealth, ...] = ("ok", "degraded", "lost")
UNATTRIBUTED = "unattributed"


def _scaled(attribute: str, factor: float) -> Callable[[Gpu], float | None]:
    def value(gpu: Gpu) -> float | None:
        raw = getattr(gpu, attribute)
        return None if raw is None else raw * factor

    return value


_Family = GaugeMetricFamily | CounterMetricFamily


@dataclass(frozen=True)
class _Spec:
    name: str
    doc: str
    counter: bool = False

    def family(self, labels: tuple[str, ...]) -> _Family:
        kind = CounterMetricFamily if self.counter else GaugeMetricFamily
        return kind(self.name, self.doc, labels=list(labels))


@dataclass(frozen=True)
class _GpuSpec(_Spec):
    value: Callable[[Gpu], float | None] = field(kw_only=True)


GPU_METRICS: tuple[_GpuSpec, ...] = (
    _GpuSpec(
        "gpu_memory_total_bytes",
        "Total GPU memory.",
        value=_scaled("memory_total_mib", BYTES_PER_MIB),
    ),
    _GpuSpec(
        "gpu_memory_used_bytes",
        "GPU memory allocated by processes (NVML memory v2).",
        value=_scaled("memory_used_mib", BYTES_PER_MIB),
    ),
    _GpuSpec(
        "gpu_memory_free_bytes",
        "GPU memory free for new allocations.",
        value=_scaled("memory_free_mib", BYTES_PER_MIB),
    ),
    _GpuSpec(
        "gpu_memory_reserved_bytes",
        "GPU memory reserved by the driver and firmware.",
        value=_scaled("memory_reserved_mib", BYTES_PER_MIB),
    ),
    _GpuSpec(
        "gpu_utilization_ratio",
        "Share of the last sample period in which a kernel ran (0-1).",
        value=_scaled("utilization_percent", 0.01),
    ),
    _GpuSpec(
        "gpu_memory_activity_ratio",
        "Share of the last sample period in which memory was read or written (0-1).",
        value=_scaled("memory_activity_percent", 0.01),
    ),
    _GpuSpec(
        "gpu_temperature_celsius", "GPU core temperature.", value=_scaled("temperature_celsius", 1)
    ),
    _GpuSpec(
        "gpu_temperature_slowdown_threshold_celsius",
        "Temperature at which the GPU slows its clocks.",
        value=_scaled("temperature_slowdown_celsius", 1),
    ),
    _GpuSpec(
        "gpu_temperature_shutdown_threshold_celsius",
        "Temperature at which the GPU shuts down.",
        value=_scaled("temperature_shutdown_celsius", 1),
    ),
    _GpuSpec("gpu_power_usage_watts", "Power draw.", value=_scaled("power_watts", 1)),
    _GpuSpec(
        "gpu_power_limit_watts", "Enforced power limit.", value=_scaled("power_limit_watts", 1)
    ),
    _GpuSpec(
        "gpu_energy_joules_total",
        "Energy consumed since the driver was loaded.",
        counter=True,
        value=_scaled("energy_joules", 1),
    ),
    _GpuSpec("gpu_sm_clock_hertz", "SM clock.", value=_scaled("sm_clock_mhz", HERTZ_PER_MHZ)),
    _GpuSpec(
        "gpu_sm_clock_max_hertz",
        "Maximum SM clock.",
        value=_scaled("sm_clock_max_mhz", HERTZ_PER_MHZ),
    ),
    _GpuSpec(
        "gpu_clock_event_reasons",
        "NVML's clocks-event (throttle) reasons mask (nvmlClocksEventReason* bits), 0 while none "
        "is active: the reasons of gpu_clock_event_active in one series per GPU.",
        value=lambda gpu: float(mask_of(gpu.clock_event_reasons)),
    ),
    _GpuSpec(
        "gpu_memory_clock_hertz", "Memory clock.", value=_scaled("memory_clock_mhz", HERTZ_PER_MHZ)
    ),
    _GpuSpec(
        "gpu_memory_clock_max_hertz",
        "Maximum memory clock.",
        value=_scaled("memory_clock_max_mhz", HERTZ_PER_MHZ),
    ),
    _GpuSpec(
        "gpu_ecc_uncorrected_errors_total",
        "Uncorrected ECC errors since the driver was loaded (volatile counter).",
        counter=True,
        value=_scaled("ecc_uncorrected_volatile", 1),
    ),
    _GpuSpec(
        "gpu_xid_errors_total",
        "XID error events seen since the collector started.",
        counter=True,
        value=_scaled("xid_errors", 1),
    ),
    _GpuSpec(
        "gpu_pcie_tx_bytes_per_second",
        "PCIe transmit throughput (only when enabled in the collector's config).",
        value=_scaled("pcie_tx_bytes_per_s", 1),
    ),
    _GpuSpec(
        "gpu_pcie_rx_bytes_per_second",
        "PCIe receive throughput (only when enabled in the collector's config).",
        value=_scaled("pcie_rx_bytes_per_s", 1),
    ),
)

GPU_INFO = _Spec("gpu", "GPU identity; join on uuid.")  # exported as gpu_info
CLOCK_EVENT = _Spec(
    "gpu_clock_event_active", "1 while the named clock-event (throttle) reason is active."
)
HEALTH = _Spec("gpu_health", "1 for the GPU's current health state (ok, degraded, lost).")
PROCESSES = _Spec("gpu_processes", "Processes using the GPU.")
NVLINK_ACTIVE = _Spec("gpu_nvlink_active", "1 while the NVLink is active, 0 while it is down.")
NVLINK_ERRORS = _Spec(
    "gpu_nvlink_errors_total",
    "NVLink data-link errors since the driver loaded or the counters were reset, by type.",
    counter=True,
)
REMAPPED_ROWS = _Spec(
    "gpu_remapped_rows_total",
    "Memory rows remapped to spare rows, by the error that caused it; kept across reboots.",
    counter=True,
)
ROW_REMAP_PENDING = _Spec("gpu_row_remap_pending", "1 while a row remap waits for a GPU reset.")
ROW_REMAP_FAILURE = _Spec("gpu_row_remap_failure", "1 once a row could not be remapped.")
APP_MEMORY = _Spec(
    "gpu_app_memory_used_bytes", "GPU memory used by the processes of one app and container."
)
APP_SM = _Spec(
    "gpu_app_sm_utilization_ratio",
    "SM utilization of the processes of one app and container (0-1, summed over processes).",
)


@dataclass(frozen=True)
class _EngineSpec(_Spec):
    value: Callable[[EngineMetrics], float | None] = field(kw_only=True)


ENGINE_METRICS: tuple[_EngineSpec, ...] = (
    _EngineSpec(
        "gpu_insight_engine_up",
        "1 if the engine's last scrape succeeded.",
        value=lambda e: 1.0 if e.up else 0.0,
    ),
    _EngineSpec(
        "gpu_insight_engine_requests_running",
        "Requests being processed.",
        value=lambda e: e.requests_running,
    ),
    _EngineSpec(
        "gpu_insight_engine_requests_waiting",
        "Requests queued.",
        value=lambda e: e.requests_waiting,
    ),
    _EngineSpec(
        "gpu_insight_engine_kv_cache_usage_ratio",
        "Share of the KV cache in use (0-1).",
        value=lambda e: e.kv_cache_usage_ratio,
    ),
    _EngineSpec(
        "gpu_insight_engine_requests_per_second",
        "Finished requests per second over the scraper's window.",
        value=lambda e: e.requests_per_s,
    ),
    _EngineSpec(
        "gpu_insight_engine_prompt_tokens_per_second",
        "Prompt tokens per second over the scraper's window.",
        value=lambda e: e.prompt_tokens_per_s,
    ),
    _EngineSpec(
        "gpu_insight_engine_generation_tokens_per_second",
        "Generated tokens per second over the scraper's window.",
        value=lambda e: e.generation_tokens_per_s,
    ),
    _EngineSpec(
        "gpu_insight_engine_preemptions_total",
        "Requests preempted by the engine since it started.",
        counter=True,
        value=lambda e: e.preemptions_total,
    ),
)


@dataclass(frozen=True)
class _LoadedModelSpec(_Spec):
    value: Callable[[LoadedModel], float | None] = field(kw_only=True)


LOADED_MODELS = _Spec(
    "gpu_insight_engine_loaded_models", "Models a multi-model server (Ollama) holds now."
)
# One series per model a multi-model server holds; its `model` label is that model.
LOADED_MODEL_METRICS: tuple[_LoadedModelSpec, ...] = (
    _LoadedModelSpec(
        "gpu_insight_engine_model_vram_ratio",
        "Share of the loaded model held in GPU memory (0-1).",
        value=lambda m: m.vram_mib / m.size_mib if m.size_mib > 0 else None,
    ),
    _LoadedModelSpec(
        "gpu_insight_engine_model_ram_ratio",
        "Share of the loaded model held in CPU memory, run by the CPU (0-1).",
        value=lambda m: 1.0 - m.vram_mib / m.size_mib if m.size_mib > 0 else None,
    ),
    _LoadedModelSpec(
        "gpu_insight_engine_model_loads_last_hour",
        "Times the model was loaded in the last hour, as the collector saw it.",
        value=lambda m: float(m.loads_last_hour),
    ),
)

ALERTS = _Spec("gpu_insight_alerts", "Pending and firing alerts (1 each).")
UP = _Spec("gpu_insight_up", "1 if the collector has a current sample from its source.")
LAST_SAMPLE = _Spec(
    "gpu_insight_last_sample_timestamp_seconds", "When the last sample was taken (epoch seconds)."
)
SAMPLE_DURATION = _Spec("gpu_insight_sample_duration_seconds", "How long the last sample took.")
SAMPLES = _Spec("gpu_insight_samples_total", "Samples taken since start.", counter=True)
COLLECT_ERRORS = _Spec(
    "gpu_insight_collect_errors_total", "Failed source calls since start, by call.", counter=True
)
LISTENER_ERRORS = _Spec(
    "gpu_insight_listener_errors_total",
    "Failures of snapshot listeners (history, accounting, recording) since start.",
    counter=True,
)
NOTIFY_DELIVERIES = _Spec(
    "gpu_insight_notify_deliveries_total",
    "Alert deliveries finished since start, by webhook target and result (delivered, "
    "rejected, expired, target_removed).",
    counter=True,
)
NOTIFY_FAILED_ATTEMPTS = _Spec(
    "gpu_insight_notify_failed_attempts_total",
    "Delivery attempts that failed and will be retried, by webhook target.",
    counter=True,
)
NOTIFY_OVERFLOW = _Spec(
    "gpu_insight_notify_queue_overflow_total",
    "Alert changes dropped since start because the notifier's queue was full.",
    counter=True,
)
NOTIFY_QUEUE_DEPTH = _Spec(
    "gpu_insight_notify_queue_depth", "Deliveries waiting in the outbox, by webhook target."
)
NOTIFY_OLDEST_AGE = _Spec(
    "gpu_insight_notify_oldest_pending_age_seconds",
    "Age of the oldest delivery waiting in the outbox, by webhook target.",
)


class SnapshotCollector(Collector):
    """Renders the runtime's latest snapshot; `apps` (a project token's) limits app and engine
    series."""

    def __init__(self, runtime: CollectorRuntime, apps: Apps = None) -> None:
        self._runtime = runtime
        self._apps = apps

    def describe(self) -> Iterator[Metric]:
        yield InfoMetricFamily(GPU_INFO.name, GPU_INFO.doc, labels=[])
        for spec in GPU_METRICS:
            yield spec.family(GPU_LABELS)
        yield CLOCK_EVENT.family((*GPU_LABELS, "reason"))
        yield HEALTH.family((*GPU_LABELS, "state"))
        yield from _nvlink_families()
        yield from _remapped_row_families()
        yield PROCESSES.family(GPU_LABELS)
        yield APP_MEMORY.family(APP_LABELS)
        yield APP_SM.family(APP_LABELS)
        for family_spec in (*ENGINE_METRICS, LOADED_MODELS, *LOADED_MODEL_METRICS):
            yield family_spec.family(ENGINE_LABELS)
        yield from usage_families()
        yield from self._self_families()
        yield from _notify_families()

    def collect(self) -> Iterator[Metric]:
        snapshot = self._runtime.store.latest()
        yield from self._self_metrics(snapshot)
        if snapshot is None:
            return
        yield from usage_metrics(self._runtime.usage.totals(), self._apps)
        snapshot = scope_snapshot(snapshot, self._apps)
        yield _gpu_info(snapshot)
        yield from _gpu_metrics(snapshot.gpus)
        yield from _nvlink_metrics(snapshot.gpus)
        yield from _remapped_row_metrics(snapshot.gpus)
        yield from _process_metrics(snapshot.gpus, snapshot.processes)
        yield from _engine_metrics(snapshot.engines)

    def _self_families(self) -> tuple[_Family, ...]:
        return (
            ALERTS.family(("rule", "severity", "state", "uuid")),
            UP.family(("source",)),
            *(spec.family(()) for spec in (LAST_SAMPLE, SAMPLE_DURATION, SAMPLES, LISTENER_ERRORS)),
            COLLECT_ERRORS.family(("call",)),
        )

    def _self_metrics(self, snapshot: Snapshot | None) -> Iterator[Metric]:
        runtime = self._runtime
        counters = runtime.self_metrics
        alerts, up, last, duration, samples, listener_errors, errors = self._self_families()

        up.add_metric(
            [runtime.source], 1.0 if snapshot is not None and snapshot.health != "down" else 0.0
        )
        samples.add_metric([], counters.samples_total)
        listener_errors.add_metric([], runtime.store.listener_errors_total)
        # A snapshot copy of the counter: the sampler thread may add a call name meanwhile.
        for call, count in sorted(dict(counters.errors_by_call).items()):
            errors.add_metric([call], count)
        last_at = counters.last_sample_at or (snapshot.collected_at if snapshot else None)
        if last_at is not None:
            last.add_metric([], last_at)
        last_duration = counters.last_sample_duration_s
        if last_duration is None and snapshot is not None:
            last_duration = snapshot.sample_duration_s
        if last_duration is not None:
            duration.add_metric([], last_duration)
        if snapshot is not None:
            active: dict[tuple[str, ...], int] = defaultdict(int)
            for alert in snapshot.alerts:
                if alert.state != "resolved":
                    active[(alert.rule, alert.severity, alert.state, alert.gpu_uuid or "")] += 1
            for labels, count in sorted(active.items()):
                alerts.add_metric(list(labels), count)
        yield from (alerts, up, last, duration, samples, listener_errors, errors)
        yield from _notify_metrics(runtime.notifier)


def _notify_families() -> tuple[_Family, ...]:
    return (
        NOTIFY_DELIVERIES.family(("target", "result")),
        NOTIFY_FAILED_ATTEMPTS.family(("target",)),
        NOTIFY_OVERFLOW.family(()),
        NOTIFY_QUEUE_DEPTH.family(("target",)),
        NOTIFY_OLDEST_AGE.family(("target",)),
    )


def _notify_metrics(notifier: Notifier | None) -> tuple[Metric, ...]:
    families = _notify_families()
    if notifier is None:
        return families
    stats, now = notifier.stats(), time.time()
    deliveries, failed_attempts, overflow, depth, oldest_age = families
    for (target, result), count in sorted(stats.deliveries.items()):
        deliveries.add_metric([target, result], count)
    for target, count in sorted(stats.failed_attempts.items()):
        failed_attempts.add_metric([target], count)
    overflow.add_metric([], stats.queue_overflow_total)
    for target, backlog in sorted(stats.backlog.items()):
        depth.add_metric([target], backlog.count)
        oldest_age.add_metric([target], max(0.0, now - backlog.oldest_created_at))
    return families


def _gpu_labels(gpu: Gpu) -> list[str]:
    return [gpu.uuid, str(gpu.index)]


def _gpu_info(snapshot: Snapshot) -> InfoMetricFamily:
    info = InfoMetricFamily(GPU_INFO.name, GPU_INFO.doc, labels=list(GPU_LABELS))
    for gpu in snapshot.gpus:
        info.add_metric(
            _gpu_labels(gpu),
            {
                "name": gpu.name,
                "pci_bus_id": gpu.pci_bus_id or "",
                "compute_capability": gpu.compute_capability or "",
                "driver_version": snapshot.driver_version or "",
                "host": gpu.host or snapshot.host,
            },
        )
    return info


def _gpu_metrics(gpus: list[Gpu]) -> Iterator[Metric]:
    for spec in GPU_METRICS:
        family = spec.family(GPU_LABELS)
        for gpu in gpus:
            value = spec.value(gpu)
            if value is not None:
                family.add_metric(_gpu_labels(gpu), value)
        yield family
    clock_events = CLOCK_EVENT.family((*GPU_LABELS, "reason"))
    health = HEALTH.family((*GPU_LABELS, "state"))
    for gpu in gpus:
        active = set(gpu.clock_event_reasons)
        # Known reasons always export 0/1, so `== 1` alerts and graphs see a value, not a gap.
        for reason in sorted(active.union(CLOCK_EVENT_REASONS)):
            clock_events.add_metric([*_gpu_labels(gpu), reason], 1.0 if reason in active else 0.0)
        for state in GPU_HEALTH_STATES:
            health.add_metric([*_gpu_labels(gpu), state], 1.0 if gpu.health == state else 0.0)
    yield clock_events
    yield health


def _nvlink_families() -> tuple[_Family, _Family]:
    return (
        NVLINK_ACTIVE.family((*GPU_LABELS, "link")),
        NVLINK_ERRORS.family((*GPU_LABELS, "link", "type")),
    )


def _nvlink_metrics(gpus: list[Gpu]) -> Iterator[Metric]:
    """Per link: state 0/1 and each error counter it can tell; a GPU without links has none."""
    active, errors = _nvlink_families()
    for gpu in gpus:
        for link in gpu.nvlinks or []:
            labels = [*_gpu_labels(gpu), str(link.link)]
            active.add_metric(labels, 1.0 if link.active else 0.0)
            for error_type, count in link.error_counts().items():
                if count is not None:
                    errors.add_metric([*labels, error_type], count)
    yield active
    yield errors


def _remapped_row_families() -> tuple[_Family, _Family, _Family]:
    return (
        REMAPPED_ROWS.family((*GPU_LABELS, "cause")),
        ROW_REMAP_PENDING.family(GPU_LABELS),
        ROW_REMAP_FAILURE.family(GPU_LABELS),
    )


def _remapped_row_metrics(gpus: list[Gpu]) -> Iterator[Metric]:
    rows, pending, failure = _remapped_row_families()
    for gpu in gpus:
        labels = _gpu_labels(gpu)
        for cause, count in (
            ("correctable", gpu.remapped_rows_correctable),
            ("uncorrectable", gpu.remapped_rows_uncorrectable),
        ):
            if count is not None:
                rows.add_metric([*labels, cause], count)
        for family, flag in (
            (pending, gpu.remapped_rows_pending),
            (failure, gpu.remapped_rows_failure),
        ):
            if flag is not None:
                family.add_metric(labels, 1.0 if flag else 0.0)
    yield rows
    yield pending
    yield failure


def _app_key(gpu: Gpu, process: GpuProcess) -> tuple[str, ...]:
    who = process.attribution
    container = who.container_name or (who.container_id[:12] if who.container_id else "")
    return (
        *_gpu_labels(gpu),
        who.app or UNATTRIBUTED,
        who.team or UNATTRIBUTED,
        container,
        who.model or "",
        who.engine,
    )


def _process_metrics(gpus: list[Gpu], processes: list[GpuProcess]) -> Iterator[Metric]:
    by_uuid = {gpu.uuid: gpu for gpu in gpus}
    count: dict[str, int] = dict.fromkeys(by_uuid, 0)
    memory_bytes: dict[tuple[str, ...], float] = {}
    sm_ratio: dict[tuple[str, ...], float] = {}
    for process in processes:
        gpu = by_uuid.get(process.gpu_uuid)
        if gpu is None:
            continue
        count[gpu.uuid] += 1
        key = _app_key(gpu, process)
        # Unknown per-process numbers add nothing, and a group with none known gets no series.
        if process.used_memory_mib is not None:
            memory_bytes[key] = memory_bytes.get(key, 0.0) + process.used_memory_mib * BYTES_PER_MIB
        if process.sm_utilization_percent is not None:
            sm_ratio[key] = sm_ratio.get(key, 0.0) + process.sm_utilization_percent / 100

    processes_family = PROCESSES.family(GPU_LABELS)
    for uuid, n in count.items():
        processes_family.add_metric(_gpu_labels(by_uuid[uuid]), n)
    yield processes_family
    for spec, values in ((APP_MEMORY, memory_bytes), (APP_SM, sm_ratio)):
        family = spec.family(APP_LABELS)
        for key, value in sorted(values.items()):
            family.add_metric(list(key), value)
        yield family


def _engine_metrics(engines: list[EngineMetrics]) -> Iterator[Metric]:
    by_url: dict[str, EngineMetrics] = {}
    for engine in engines:
        by_url.setdefault(engine.url, engine)  # one series per instance even if listed twice
    for spec in ENGINE_METRICS:
        family = spec.family(ENGINE_LABELS)
        for engine in by_url.values():
            value = spec.value(engine)
            if value is not None:
                family.add_metric(_engine_labels(engine, engine.model), value)
        yield family
    loaded = LOADED_MODELS.family(ENGINE_LABELS)
    for engine in by_url.values():
        if engine.loaded_models is not None:
            loaded.add_metric(_engine_labels(engine, engine.model), len(engine.loaded_models))
    yield loaded
    for model_spec in LOADED_MODEL_METRICS:
        family = model_spec.family(ENGINE_LABELS)
        for engine in by_url.values():
            for model in engine.loaded_models or []:
                value = model_spec.value(model)
                if value is not None:
                    family.add_metric(_engine_labels(engine, model.name), value)
        yield family


def _engine_labels(engine: EngineMetrics, model: str | None) -> list[str]:
    return [
        engine.engine,
        model or "",
        engine.app or UNATTRIBUTED,
        engine.team or UNATTRIBUTED,
        engine.url,
    ]


def metrics_registry(runtime: CollectorRuntime, apps: Apps = None) -> CollectorRegistry:
    """A private registry holding only this runtime's collector: no global state, no defaults."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(runtime, apps))
    return registry


class MetricsPage:
    """One scope's exposition, rendered once per sample and format.

    Every series derives from the latest sample and the sampler's own counters, so scrapes
    between two samples share one rendering: a burst of scrapers costs no more than one.
    """

    def __init__(self, runtime: CollectorRuntime, apps: Apps = None) -> None:
        self._runtime = runtime
        self._registry = metrics_registry(runtime, apps)
        self._cache = PerSampleCache[bytes]()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The body and content type the scraper asked for (OpenMetrics or text 0.0.4)."""
        encoder, content_type = choose_encoder(accept or "")
        runtime = self._runtime
        # Errors too: a failing sampler counts them without publishing a new sample.
        errors = sum(dict(runtime.self_metrics.errors_by_call).values())
        counters = (
            runtime.self_metrics.samples_total,
            runtime.store.listener_errors_total,
            errors,
            # deliveries happen between samples
            runtime.notifier.stats().version if runtime.notifier is not None else 0,
        )
        body = self._cache.get(
            runtime.store.latest(), content_type, lambda: encoder(self._registry), counters
        )
        return body, content_type
