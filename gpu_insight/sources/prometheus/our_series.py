"""GPU Insight collectors' series (their `/metrics`), read back into the wire models.

The names and units are the collector's (`gpu_insight/collector/metrics.py`, which the plugin
package does not ship); a round-trip test renders a snapshot there and reads it back here.
Series of one target share its target labels (`instance`, `job` and whatever relabelling adds);
`gpu_info` names the host of each target.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, get_args

from gpu_insight.clock_events import reasons_of
from gpu_insight.schemas import (
    Alert,
    AlertState,
    Attribution,
    Engine,
    EngineMetrics,
    Gpu,
    GpuHealth,
    GpuProcess,
    GroupBy,
    Severity,
)
from gpu_insight.sources.prometheus.client import Sample
from gpu_insight.sources.prometheus.hosts import MIB, HostSeries, label
from gpu_insight.sources.prometheus.promql import FIELD_LABEL

# series name → (Gpu field, factor from the series' unit to the field's). A snapshot reads the
# fields the answers use; energy, memory activity and clocks, the shutdown threshold and PCIe
# stay in Prometheus, so that a 1,000-GPU snapshot reads 14 series per GPU instead of 21.
GPU_FIELDS: dict[str, tuple[str, float]] = {
    "gpu_memory_total_bytes": ("memory_total_mib", 1 / MIB),
    "gpu_memory_used_bytes": ("memory_used_mib", 1 / MIB),
    "gpu_memory_free_bytes": ("memory_free_mib", 1 / MIB),
    "gpu_memory_reserved_bytes": ("memory_reserved_mib", 1 / MIB),
    "gpu_utilization_ratio": ("utilization_percent", 100.0),
    "gpu_temperature_celsius": ("temperature_celsius", 1.0),
    "gpu_temperature_slowdown_threshold_celsius": ("temperature_slowdown_celsius", 1.0),
    "gpu_power_usage_watts": ("power_watts", 1.0),
    "gpu_power_limit_watts": ("power_limit_watts", 1.0),
    "gpu_sm_clock_hertz": ("sm_clock_mhz", 1e-6),
    "gpu_sm_clock_max_hertz": ("sm_clock_max_mhz", 1e-6),
    "gpu_ecc_uncorrected_errors_total": ("ecc_uncorrected_volatile", 1.0),
    "gpu_xid_errors_total": ("xid_errors", 1.0),
}
COUNT_FIELDS = frozenset({"ecc_uncorrected_volatile", "xid_errors"})
INFO = "gpu_info"
HEALTH = "gpu_health"  # 1 for the current state
# NVML's clocks-event reasons mask: one series per GPU where gpu_clock_event_active has one per
# reason (9,000 on a 1,000-GPU fleet instead of 1,000)
CLOCK_EVENT_MASK = "gpu_clock_event_reasons"
APP_MEMORY = "gpu_app_memory_used_bytes"
APP_SM = "gpu_app_sm_utilization_ratio"
# series name → EngineMetrics field
ENGINE_FIELDS: dict[str, str] = {
    "gpu_insight_engine_up": "up",
    "gpu_insight_engine_requests_running": "requests_running",
    "gpu_insight_engine_requests_waiting": "requests_waiting",
    "gpu_insight_engine_kv_cache_usage_ratio": "kv_cache_usage_ratio",
    "gpu_insight_engine_requests_per_second": "requests_per_s",
    "gpu_insight_engine_prompt_tokens_per_second": "prompt_tokens_per_s",
    "gpu_insight_engine_generation_tokens_per_second": "generation_tokens_per_s",
    "gpu_insight_engine_preemptions_total": "preemptions_total",
}
ALERTS = "gpu_insight_alerts"
COLLECTOR_UP = "gpu_insight_up"
LAST_SAMPLE = "gpu_insight_last_sample_timestamp_seconds"
# usage counters (from the collector's books) → UsageRow field, factor to its unit
USAGE_COUNTERS: dict[str, tuple[str, float]] = {
    "gpu_app_gpu_seconds_total": ("gpu_seconds", 1.0),
    "gpu_app_memory_byte_seconds_total": ("memory_mib_seconds", 1 / MIB),
    "gpu_app_energy_joules_total": ("energy_joules", 1.0),
}
# The same counters as the recording rules in deploy/prometheus/gpu-insight-usage-rules.yaml
# copy them every 5 minutes, labels unchanged: a day of the copy is 288 samples a series where
# the counters scraped every 30 s are 2,880.
RECORDED_USAGE_COUNTERS: dict[str, str] = {
    "gpu_app_gpu_seconds_total": "gpu_app:gpu_seconds_total:5m",
    "gpu_app_memory_byte_seconds_total": "gpu_app:memory_byte_seconds_total:5m",
    "gpu_app_energy_joules_total": "gpu_app:energy_joules_total:5m",
}
UNATTRIBUTED = "unattributed"
# group_by of a usage report → the counters' label, where it is not named like the group
USAGE_GROUP_LABELS: dict[GroupBy, str] = {"container": "app_container", "gpu": "uuid"}

CLOCK_EVENT_FIELD = "clock_event_reasons"  # the Gpu field CLOCK_EVENT_MASK fills
APP_NAMES = (APP_MEMORY, APP_SM, *ENGINE_FIELDS)
COLLECTOR_NAMES = (COLLECTOR_UP, LAST_SAMPLE, ALERTS)
HISTORY_NAMES = (
    "gpu_utilization_ratio",
    "gpu_memory_used_bytes",
    "gpu_memory_total_bytes",
    "gpu_temperature_celsius",
    "gpu_power_usage_watts",
    INFO,
    COLLECTOR_UP,
)

# Labels the collector sets itself; every other label of a series is its target's.
_OWN_LABELS = frozenset(
    {
        "__name__",
        FIELD_LABEL,
        "uuid",
        "gpu",
        "name",
        "pci_bus_id",
        "compute_capability",
        "driver_version",
        "host",
        "state",
        "reason",
        "app",
        "team",
        "app_container",
        "model",
        "engine",
        "instance_url",
        "source",
        "rule",
        "severity",
    }
)
# label value → the wire model's literal (anything else is not one)
_ENGINES: dict[str, Engine] = {e: e for e in get_args(Engine)}
_HEALTH: dict[str, GpuHealth] = {h: h for h in get_args(GpuHealth)}
_SEVERITIES: dict[str, Severity] = {s: s for s in get_args(Severity)}
_ALERT_STATES: dict[str, AlertState] = {s: s for s in get_args(AlertState)}

# A series' target labels: their names, and their values as `operator.itemgetter` gives them.
TargetKey = tuple[tuple[str, ...], object]


def reading_names(gpu_fields: frozenset[str] | None) -> tuple[str, ...]:
    """The device series of the `Gpu` fields asked for (None: all of them)."""
    wanted = (n for n, (a, _) in GPU_FIELDS.items() if gpu_fields is None or a in gpu_fields)
    clock_events = gpu_fields is None or CLOCK_EVENT_FIELD in gpu_fields
    return (*wanted, *((CLOCK_EVENT_MASK,) if clock_events else ()))


def target_key(labels: Mapping[str, str]) -> TargetKey:
    """A series' target labels; `exported_…` ones are an exporter's own, renamed. (Read for
    every sample of a snapshot, so which names are the target's is worked out once per set
    of label names: a fleet's series have a handful.)"""
    names, values = _target_labels(tuple(labels))
    return names, values(labels)


@functools.lru_cache(maxsize=1024)
def _target_labels(names: tuple[str, ...]) -> tuple[tuple[str, ...], Callable[[Any], object]]:
    target = tuple(
        sorted(n for n in names if n not in _OWN_LABELS and not n.startswith("exported_"))
    )
    return target, operator.itemgetter(*target) if target else _no_labels


def _no_labels(labels: Any) -> object:
    return ()


def read_hosts(devices: Iterable[Sample], attribution: Iterable[Sample]) -> list[HostSeries]:
    """One `HostSeries` per scraped collector, from the device and flag queries' samples and
    the app and collector queries' samples (see `queries`). `gpu_info` names each target's
    GPUs; a reading or flag is a GPU's by its UUID alone (a GPU that two targets report gets
    it in both). A GPU's fields are gathered first and its model built once: a fleet's
    snapshot reads tens of thousands of samples."""
    hosts: dict[TargetKey, HostSeries] = {}
    gpus: dict[tuple[TargetKey, str], dict[str, Any]] = {}  # by target and UUID
    by_uuid: dict[str, list[dict[str, Any]]] = {}
    readings: list[Sample] = []
    for sample in devices:
        labels = sample.labels
        if labels.get("__name__") != INFO:
            readings.append(sample)
            continue
        key = target_key(labels)
        host = _host_of(hosts, key, labels)
        uuid = label(labels, "uuid")
        gpu = gpus[key, uuid] = {
            "index": _index(labels),
            "uuid": uuid,
            "name": label(labels, "name") or "unknown GPU",
            "host": host.host,
            "exporter": "gpu-insight",
            "pci_bus_id": label(labels, "pci_bus_id") or None,
            "compute_capability": label(labels, "compute_capability") or None,
            "clock_event_reasons": [],
        }
        by_uuid.setdefault(uuid, []).append(gpu)
    for sample in readings:  # without gpu_info a GPU has no name: scraped mid-change
        attribute, value = _device_field(sample)
        if attribute:
            for gpu in by_uuid.get(label(sample.labels, "uuid"), ()):
                gpu[attribute] = value
    for (key, uuid), values in gpus.items():
        hosts[key].gpus[uuid] = Gpu(**values)
    for sample in attribution:
        key = target_key(sample.labels)
        _read_attribution(_host_of(hosts, key, sample.labels), sample)
    return list(hosts.values())


def _host_of(
    hosts: dict[TargetKey, HostSeries], key: TargetKey, labels: Mapping[str, str]
) -> HostSeries:
    host = hosts.get(key)
    if host is None:
        instance = labels.get("instance", "")
        named = label(labels, "host") if labels.get("__name__") == INFO else ""
        host = hosts[key] = HostSeries(
            host=named or instance, exporter="gpu-insight", instance=instance
        )
    return host


def _device_field(sample: Sample) -> tuple[str, Any]:
    """The `Gpu` field a device series sets and its value; ("", None) for none."""
    name = sample.labels.get("__name__", "")
    if name in GPU_FIELDS:
        attribute, factor = GPU_FIELDS[name]
        value = sample.value * factor
        return attribute, round(value) if attribute in COUNT_FIELDS else value
    if name == HEALTH:
        health = _HEALTH.get(label(sample.labels, "state"))
        return ("health", health) if health is not None else ("", None)
    if name == CLOCK_EVENT_MASK and math.isfinite(sample.value):
        return CLOCK_EVENT_FIELD, reasons_of(int(sample.value))
    return "", None


def _read_attribution(host: HostSeries, sample: Sample) -> None:
    labels, name = sample.labels, sample.labels.get("__name__", "")
    if name == COLLECTOR_UP:
        host.up = sample.value == 1
        host.source = "replay" if label(labels, "source") == "replay" else "nvml"
    elif name == LAST_SAMPLE:
        host.sampled_at = sample.value
    elif name == ALERTS:
        _read_alert(host, sample)
    elif name in (APP_MEMORY, APP_SM):
        _read_app_share(host, sample)
    elif name in ENGINE_FIELDS:
        _read_engine(host, sample)


def _read_app_share(host: HostSeries, sample: Sample) -> None:
    labels = sample.labels
    uuid = label(labels, "uuid")
    gpu = host.gpus.get(uuid)
    app, team = label(labels, "app"), label(labels, "team")
    attribution = Attribution(
        container_name=label(labels, "app_container") or None,
        engine=_engine(label(labels, "engine")),
        model=label(labels, "model") or None,
        app=None if app == UNATTRIBUTED else app or None,
        team=None if team == UNATTRIBUTED else team or None,
    )
    process = next(
        (p for p in host.processes if p.gpu_uuid == uuid and p.attribution == attribution), None
    )
    if process is None:
        process = GpuProcess(
            pid=0,
            gpu_index=gpu.index if gpu is not None else _index(labels),
            gpu_uuid=uuid,
            host=host.host,
            attribution=attribution,
        )
        host.processes.append(process)
    if labels.get("__name__") == APP_MEMORY:
        process.used_memory_mib = sample.value / MIB
    else:
        process.sm_utilization_percent = sample.value * 100.0


def _read_engine(host: HostSeries, sample: Sample) -> None:
    labels = sample.labels
    url = label(labels, "instance_url")
    engine = next((e for e in host.engines if e.url == url), None)
    if engine is None:
        app, team = label(labels, "app"), label(labels, "team")
        engine = EngineMetrics(
            engine=_engine(label(labels, "engine")),
            model=label(labels, "model") or None,
            url=url,
            host=host.host,
            app=None if app == UNATTRIBUTED else app or None,
            team=None if team == UNATTRIBUTED else team or None,
        )
        host.engines.append(engine)
    attribute = ENGINE_FIELDS[labels["__name__"]]
    setattr(engine, attribute, sample.value == 1 if attribute == "up" else sample.value)


def _read_alert(host: HostSeries, sample: Sample) -> None:
    labels = sample.labels
    rule = label(labels, "rule")
    severity = _SEVERITIES.get(label(labels, "severity"))
    state = _ALERT_STATES.get(label(labels, "state"))
    if severity is None or state is None or sample.value < 1:
        return
    uuid = label(labels, "uuid") or None
    gpu = host.gpus.get(uuid or "")
    where = f"GPU {gpu.index} on {host.host}" if gpu is not None else host.host
    host.alerts.append(
        Alert(
            rule=rule,
            severity=severity,
            state=state,
            gpu_index=gpu.index if gpu is not None else None,
            gpu_uuid=uuid,
            host=host.host,
            message=f"{rule.replace('_', ' ')} ({state}) on {where}",
            # Prometheus has the alert's state, not its history: the time it was read
            started_at=sample.t,
        )
    )


def _engine(value: str) -> Engine:
    return _ENGINES.get(value, "unknown")


def _index(labels: Mapping[str, str]) -> int:
    text = label(labels, "gpu")
    return int(text) if text.isdecimal() else 0
