"""Answers of several collectors (one per GPU host) merged into one.

Every GPU, process, engine and alert keeps its host; a merged answer is `replay` if any part of
it is, so recorded data is never passed off as live.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from gpu_insight.schemas import (
    AlertList,
    HealthStatus,
    History,
    ShareMethod,
    Snapshot,
    Source,
    UsageBucket,
    UsageReport,
    UsageRow,
)

SECONDS_PER_HOUR = 3600.0
_HEALTH_RANK: dict[HealthStatus, int] = {"ok": 0, "degraded": 1, "down": 2}


def merged_source(sources: Iterable[Source]) -> Source:
    return "replay" if "replay" in set(sources) else "nvml"


def merge_snapshots(snapshots: Sequence[Snapshot]) -> Snapshot:
    """Health is the worst, the time the oldest."""
    if not snapshots:
        raise ValueError("nothing to merge")
    labelled = [_label_with_host(s) for s in snapshots]
    if len(labelled) == 1:
        return labelled[0]
    worst = max(labelled, key=lambda s: _HEALTH_RANK[s.health])
    reasons = [f"{s.host}: {s.health_reason}" for s in labelled if s.health_reason]
    return Snapshot(
        host=",".join(s.host for s in labelled),
        source=merged_source(s.source for s in labelled),
        collected_at=min(s.collected_at for s in labelled),
        health=worst.health,
        health_reason="; ".join(reasons) or None,
        gpus=[g for s in labelled for g in s.gpus],
        processes=[p for s in labelled for p in s.processes],
        engines=[e for s in labelled for e in s.engines],
        alerts=[a for s in labelled for a in s.alerts],
    )


def _label_with_host(snapshot: Snapshot) -> Snapshot:
    host = snapshot.host
    return snapshot.model_copy(
        update={
            "gpus": [g.model_copy(update={"host": g.host or host}) for g in snapshot.gpus],
            "processes": [
                p.model_copy(update={"host": p.host or host}) for p in snapshot.processes
            ],
            "engines": [e.model_copy(update={"host": e.host or host}) for e in snapshot.engines],
            "alerts": [a.model_copy(update={"host": a.host or host}) for a in snapshot.alerts],
        }
    )


def merge_alert_lists(lists: Sequence[AlertList]) -> AlertList:
    """Every host's alerts, each labelled with its host (one host's too, as snapshots are)."""
    if not lists:
        raise ValueError("nothing to merge")
    return AlertList(
        host=",".join(a.host for a in lists),
        source=merged_source(a.source for a in lists),
        alerts=[
            alert.model_copy(update={"host": alert.host or part.host})
            for part in lists
            for alert in part.alerts
        ],
    )


def merge_histories(histories: Sequence[History]) -> History:
    """Every GPU's points (GPU UUIDs are unique across hosts); the window common to all answers
    ends at the oldest host's newest sample."""
    if not histories:
        raise ValueError("nothing to merge")
    if len(histories) == 1:
        return histories[0]
    return History(
        host=",".join(h.host for h in histories),
        source=merged_source(h.source for h in histories),
        resolution_s=max(h.resolution_s for h in histories),
        from_t=min(h.from_t for h in histories),
        to_t=min(h.to_t for h in histories),
        gpus=[gpu for h in histories for gpu in h.gpus],
    )


def merge_usage(reports: Sequence[UsageReport]) -> UsageReport:
    """Rows of the same group are added up, and so are the rows of steps that start at the same
    time; the price is kept when every collector names the same one; each GPU is labelled with
    its host."""
    if not reports:
        raise ValueError("nothing to merge")
    if len(reports) == 1:
        return reports[0]
    steps: dict[tuple[float, float], list[UsageRow]] = defaultdict(list)
    for report in reports:
        for bucket in report.buckets:
            steps[(bucket.from_t, bucket.to_t)].extend(bucket.rows)
    prices = {r.price_per_gpu_hour for r in reports}
    return UsageReport(
        host=",".join(r.host for r in reports),
        source=merged_source(r.source for r in reports),
        from_t=min(r.from_t for r in reports),
        to_t=max(r.to_t for r in reports),
        group_by=reports[0].group_by,
        rows=_added_rows(row for r in reports for row in r.rows),
        total_gpu_hours=sum(r.total_gpu_hours for r in reports),
        total_energy_joules=sum(r.total_energy_joules for r in reports),
        buckets=[
            UsageBucket(from_t=from_t, to_t=to_t, rows=_added_rows(rows))
            for (from_t, to_t), rows in sorted(steps.items())
        ],
        price_per_gpu_hour=prices.pop() if len(prices) == 1 else None,
        gpus=[g.model_copy(update={"host": r.host}) for r in reports for g in r.gpus],
    )


def _added_rows(rows: Iterable[UsageRow]) -> list[UsageRow]:
    """One row per group, amounts added; idle-held time is unknown only if no part knew it."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    held: dict[str, float | None] = defaultdict(lambda: None)
    methods: dict[str, set[ShareMethod]] = defaultdict(set)
    for row in rows:
        amounts = totals[row.group]
        amounts[0] += row.gpu_seconds
        amounts[1] += row.memory_mib_seconds
        amounts[2] += row.energy_joules
        if row.idle_held_gpu_seconds is not None:
            held[row.group] = (held[row.group] or 0.0) + row.idle_held_gpu_seconds
        methods[row.group].update(row.share_methods)
    added = [
        UsageRow(
            group=group,
            gpu_seconds=gpu_s,
            gpu_hours=gpu_s / SECONDS_PER_HOUR,
            memory_mib_seconds=mib_s,
            energy_joules=joules,
            share_methods=sorted(methods[group]),
            idle_held_gpu_seconds=held[group],
        )
        for group, (gpu_s, mib_s, joules) in totals.items()
    ]
    added.sort(key=row_order)
    return added


def row_order(row: UsageRow) -> tuple[float, float, str]:
    """How a report lists its rows: most GPU-seconds first."""
    return (-row.gpu_seconds, -row.energy_joules, row.group)


def with_rows(header: UsageReport, rows: Sequence[UsageRow]) -> UsageReport:
    """`header` with `rows` (most GPU-seconds first) and their totals."""
    ordered = sorted(rows, key=row_order)
    return header.model_copy(
        update={
            "rows": ordered,
            "total_gpu_hours": sum(r.gpu_hours for r in ordered),
            "total_energy_joules": sum(r.energy_joules for r in ordered),
        }
    )
