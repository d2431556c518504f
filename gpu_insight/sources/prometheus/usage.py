"""The usage queries' sums (`increase()` of the collectors' counters) as one `UsageReport`,
in steps when asked for them.

Spans are kept in whole milliseconds, the unit of the queries' windows, so that a day cut into
hours is 24 steps whatever the float arithmetic of its ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gpu_insight.schemas import GroupBy, UsageBucket, UsageReport, UsageRow, UsageSeries
from gpu_insight.sources.merge import SECONDS_PER_HOUR, row_order, with_rows
from gpu_insight.sources.prometheus import our_series
from gpu_insight.sources.prometheus.client import RangeSeries, Sample
from gpu_insight.sources.prometheus.promql import FIELD_LABEL
from gpu_insight.sources.prometheus.queries import USAGE_HOSTS, USAGE_SOURCES
from gpu_insight.sources.prometheus.view import fleet_name

MS_PER_S = 1000
_FACTORS = dict(our_series.USAGE_COUNTERS.values())

Span = tuple[int, int]  # [from, to) in epoch milliseconds


def usage_spans(from_t: float, to_t: float, bucket_s: int | None) -> list[Span]:
    """The window, or its steps of `bucket_s` from `from_t` with the last one cut at `to_t`."""
    first, end = round(from_t * MS_PER_S), round(to_t * MS_PER_S)
    if bucket_s is None or end <= first:
        return [(first, end)]
    step = bucket_s * MS_PER_S
    return [(start, min(end, start + step)) for start in range(first, end, step)]


def by_step_end(series: Iterable[RangeSeries]) -> dict[int, list[Sample]]:
    """A range query's points as the samples of each step, by the step's end."""
    steps: dict[int, list[Sample]] = defaultdict(list)
    for one in series:
        for t, value in one.points:
            steps[round(t * MS_PER_S)].append(Sample(one.labels, t, value))
    return steps


@dataclass(frozen=True)
class UsageStep:
    """One span of a report and the usage queries' sums over it."""

    span: Span
    sums: Sequence[Sample]


def usage_of(
    steps: Sequence[UsageStep],
    hosts: Iterable[Sample],
    *,
    from_t: float,
    to_t: float,
    group_by: GroupBy,
    url: str,
    bucketed: bool,
    series: UsageSeries,
) -> UsageReport:
    """The rows of all steps added up; with `bucketed`, each step's rows as well."""
    by = our_series.USAGE_GROUP_LABELS.get(group_by, group_by)
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
        usage_series=series,
        buckets=[
            UsageBucket(
                from_t=step.span[0] / MS_PER_S,
                to_t=step.span[1] / MS_PER_S,
                rows=sorted(_rows(step.sums, by), key=row_order),
            )
            for step in steps
        ]
        if bucketed
        else [],
    )
    return with_rows(header, _rows((s for step in steps for s in step.sums), by))


def _rows(sums: Iterable[Sample], by: str) -> list[UsageRow]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_FACTORS, 0.0))
    for sample in sums:
        field = sample.labels.get(FIELD_LABEL, "")
        if field in _FACTORS and sample.value > 0:
            group = sample.labels.get(by) or our_series.UNATTRIBUTED
            totals[group][field] += sample.value * _FACTORS[field]
    return [
        UsageRow(
            group=group,
            gpu_seconds=amounts["gpu_seconds"],
            gpu_hours=amounts["gpu_seconds"] / SECONDS_PER_HOUR,
            memory_mib_seconds=amounts["memory_mib_seconds"],
            energy_joules=amounts["energy_joules"],
        )
        for group, amounts in totals.items()
    ]
