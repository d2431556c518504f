"""One-line summaries for agents: the numbers that matter, no repetition of the JSON."""

from __future__ import annotations

from gpu_insight.process_view import ProcessView
from gpu_insight.status_view import StatusView


def status_line(view: StatusView) -> str:
    summary = view.summary
    where = _where(view.snapshot.host, view.snapshot.source)
    if summary.gpu_count == 0:
        return f"{where}: no GPUs reported."
    largest = max(view.gpus, key=lambda g: g.memory_free_mib or 0.0)
    health = "healthy" if summary.healthy else "NOT healthy"
    alerts = (
        "no active alerts"
        if summary.alerts_count == 0
        else (
            f"{summary.alerts_count} active alert(s): "
            + "; ".join(a.message for a in view.alerts[:3])
        )
    )
    return (
        f"{where}: {summary.gpu_count} GPU(s), {_mib(summary.total_free_mib)} free in total "
        f"(largest {_mib(summary.max_free_mib)} on {largest.host}:{largest.index}), "
        f"max utilization {summary.max_utilization_percent:g}%, {health}, {alerts}."
    )


def processes_line(view: ProcessView) -> str:
    where = _where(view.snapshot.host, view.snapshot.source)
    top = view.top
    if top is None:
        return f"{where}: no processes hold GPU memory on the selected GPUs."
    return (
        f"{where}: top consumer by {view.group_by} is {top.consumer} with "
        f"{_mib(top.used_memory_mib)} on {', '.join(top.gpus)}; {len(view.rows)} consumer(s); "
        f"{_mib(view.unattributed_mib)} held by processes not attributed to an app or team."
    )


def _where(host: str, source: str) -> str:
    return f"{host} (replayed data)" if source == "replay" else host


def _mib(value: float) -> str:
    return f"{value:,.0f} MiB"
