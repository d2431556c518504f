"""A range query of both exporters' chart series, read into one `History`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from gpu_insight.schemas import GpuHistory, History, HistoryPoint, Source
from gpu_insight.sources.prometheus import dcgm_series, our_series
from gpu_insight.sources.prometheus.client import RangeSeries
from gpu_insight.sources.prometheus.hosts import MIB, label
from gpu_insight.sources.prometheus.view import fleet_name, host_key

MAX_POINTS = 240  # per GPU and series: a chart's width, whatever the window

# series name → (HistoryPoint field, factor)
_OUR_POINT_FIELDS: dict[str, tuple[str, float]] = {
    "gpu_utilization_ratio": ("utilization_percent", 100.0),
    "gpu_memory_used_bytes": ("memory_used_mib", 1 / MIB),
    "gpu_memory_total_bytes": ("memory_total_mib", 1 / MIB),
    "gpu_temperature_celsius": ("temperature_celsius", 1.0),
    "gpu_power_usage_watts": ("power_watts", 1.0),
}
_DCGM_POINT_FIELDS: dict[str, tuple[str, float]] = {
    dcgm_series.UTIL: ("utilization_percent", 1.0),
    dcgm_series.USED: ("memory_used_mib", 1.0),
    "DCGM_FI_DEV_GPU_TEMP": ("temperature_celsius", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_watts", 1.0),
}
_DCGM_MEMORY = (dcgm_series.FREE, dcgm_series.USED, dcgm_series.RESERVED)


def step_for(seconds: float) -> float:
    return float(max(1, math.ceil(seconds / MAX_POINTS)))


@dataclass
class _Chart:
    host: str
    index: int
    uuid: str
    dcgm: bool
    points: dict[float, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))


def history_of(
    series: Iterable[RangeSeries], *, start: float, end: float, step_s: float, url: str
) -> History:
    series = list(series)
    hosts: dict[our_series.TargetKey, str] = {}
    for one in series:
        if one.labels.get("__name__") == our_series.INFO:
            hosts[our_series.target_key(one.labels)] = label(one.labels, "host")
    replayed = any(
        one.labels.get("__name__") == our_series.COLLECTOR_UP
        and label(one.labels, "source") == "replay"
        for one in series
    )
    charts: dict[tuple[str, str], _Chart] = {}
    for one in series:
        name = one.labels.get("__name__", "")
        if name in _OUR_POINT_FIELDS:
            host = hosts.get(our_series.target_key(one.labels), one.labels.get("instance", ""))
            uuid, dcgm = label(one.labels, "uuid"), False
        elif name in _DCGM_POINT_FIELDS or name in _DCGM_MEMORY:
            host = dcgm_series.host_name(one.labels)
            uuid, dcgm = one.labels.get("UUID") or one.labels.get("uuid") or "", True
        else:
            continue
        chart = charts.get((host, uuid))
        if chart is None:
            index = one.labels.get("gpu", "")
            chart = charts[(host, uuid)] = _Chart(
                host, int(index) if index.isdecimal() else 0, uuid, dcgm
            )
        elif chart.dcgm != dcgm:
            continue  # the same GPU in both exporters: the collector's series win
        for t, value in one.points:
            if math.isfinite(value):
                chart.points[t][name] = value
    ours = {host_key(c.host) for c in charts.values() if not c.dcgm}
    gpus = [
        GpuHistory(
            gpu_index=chart.index,
            gpu_uuid=chart.uuid,
            host=chart.host,
            points=[_point(t, values, chart.dcgm) for t, values in sorted(chart.points.items())],
        )
        for chart in sorted(charts.values(), key=lambda c: (c.host, c.index))
        if not (chart.dcgm and host_key(chart.host) in ours)
    ]
    source: Source = "replay" if replayed else "nvml"
    return History(
        host=fleet_name(g.host or "" for g in gpus),
        source=source,
        resolution_s=step_s,
        from_t=start,
        to_t=end,
        prometheus_url=url,
        gpus=gpus,
    )


def _point(t: float, values: dict[str, float], dcgm: bool) -> HistoryPoint:
    fields = _DCGM_POINT_FIELDS if dcgm else _OUR_POINT_FIELDS
    point = HistoryPoint(t=t)
    for name, (attribute, factor) in fields.items():
        if name in values:
            setattr(point, attribute, values[name] * factor)
    if dcgm and dcgm_series.FREE in values and dcgm_series.USED in values:
        point.memory_total_mib = sum(values.get(n, 0.0) for n in _DCGM_MEMORY)
    return point
