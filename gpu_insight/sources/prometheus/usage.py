"""The usage query's sums (`increase()` of the collectors' counters) as one `UsageReport`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from gpu_insight.schemas import GroupBy, UsageReport, UsageRow
from gpu_insight.sources.merge import SECONDS_PER_HOUR, with_rows
from gpu_insight.sources.prometheus import our_series
from gpu_insight.sources.prometheus.client import Sample
from gpu_insight.sources.prometheus.promql import FIELD_LABEL
from gpu_insight.sources.prometheus.queries import USAGE_HOSTS, USAGE_SOURCES
from gpu_insight.sources.prometheus.view import fleet_name

_FACTORS = dict(our_series.USAGE_COUNTERS.values())


def usage_of(
    sums: Iterable[Sample],
    hosts: Iterable[Sample],
    *,
    from_t: float,
    to_t: float,
    group_by: GroupBy,
    url: str,
) -> UsageReport:
    by = our_series.USAGE_GROUP_LABELS.get(group_by, group_by)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_FACTORS, 0.0))
    for sample in sums:
        field = sample.labels.get(FIELD_LABEL, "")
        if field in _FACTORS and sample.value > 0:
            group = sample.labels.get(by) or our_series.UNATTRIBUTED
            totals[group][field] += sample.value * _FACTORS[field]
    rows = [
        UsageRow(
            group=group,
            gpu_seconds=amounts["gpu_seconds"],
            gpu_hours=amounts["gpu_seconds"] / SECONDS_PER_HOUR,
            memory_mib_seconds=amounts["memory_mib_seconds"],
            energy_joules=amounts["energy_joules"],
        )
        for group, amounts in totals.items()
    ]
    hosts = list(hosts)
    names = [s.labels.get("host", "") for s in hosts if s.labels.get(FIELD_LABEL) == USAGE_HOSTS]
    replayed = any(
        s.labels.get(FIELD_LABEL) == USAGE_SOURCES and s.labels.get("source") == "replay"
        for s in hosts
    )
    header = UsageReport(
        host=fleet_name(names),
        source="replay" if replayed else "nvml",
        from_t=from_t,
        to_t=to_t,
        group_by=group_by,
        prometheus_url=url,
    )
    return with_rows(header, rows)
