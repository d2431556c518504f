"""What `gpu_status` answers: per-GPU state, active alerts and a summary for branching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gpu_insight.answers.answer import Variable, mib, missing_note, where
from gpu_insight.answers.params import (
    GpuSelector,
    parse_gpu_selector,
    parse_optional_text,
    select_gpus,
)
from gpu_insight.schemas import Alert, Gpu, Snapshot
from gpu_insight.sources.fleet import Gathered, MissingCollector, missing_json

# What the answer shows of each GPU besides its identity and health: the `Gpu` fields a source
# must read for it.
READINGS = (
    "utilization_percent",
    "memory_used_mib",
    "memory_free_mib",
    "memory_total_mib",
    "temperature_celsius",
    "power_watts",
    "power_limit_watts",
    "clock_event_reasons",
)
STATUS_GPU_FIELDS = frozenset(READINGS)


@dataclass(frozen=True)
class StatusQuery:
    selector: GpuSelector
    host: str | None


def parse_status_query(params: Mapping[str, Any]) -> StatusQuery:
    return StatusQuery(
        selector=parse_gpu_selector(params.get("gpu")),
        host=parse_optional_text(params.get("host"), "host"),
    )


@dataclass(frozen=True)
class StatusSummary:
    gpu_count: int
    total_free_mib: float
    max_free_mib: float
    max_utilization_percent: float
    healthy: bool  # every collector answered, every GPU reports "ok", no alert fires for them
    alerts_count: int  # firing alerts for these GPUs (or their hosts)

    def as_variables(self) -> dict[str, Variable]:
        return {
            "gpu_count": self.gpu_count,
            "total_free_mib": self.total_free_mib,
            "max_free_mib": self.max_free_mib,
            "max_utilization_percent": self.max_utilization_percent,
            "healthy": self.healthy,
            "alerts_count": self.alerts_count,
        }


@dataclass(frozen=True)
class StatusAnswer:
    snapshot: Snapshot
    gpus: list[Gpu]
    alerts: list[Alert]
    summary: StatusSummary
    missing: tuple[MissingCollector, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Compact: only fields that are known, floats rounded to one decimal."""
        return {
            "source": self.snapshot.source,
            "prometheus_url": self.snapshot.prometheus_url,
            "host": self.snapshot.host,
            "collected_at": self.snapshot.collected_at,
            "summary": self.summary.as_variables(),
            "gpus": [_gpu_json(g) for g in self.gpus],
            "alerts": [_alert_json(a) for a in self.alerts],
            "missing_collectors": missing_json(self.missing),
        }

    def variables(self) -> dict[str, Variable]:
        return self.summary.as_variables()

    def text(self) -> str:
        summary = self.summary
        snapshot = self.snapshot
        origin = where(snapshot.host, snapshot.source, snapshot.prometheus_url)
        gaps = missing_note(self.missing)
        if summary.gpu_count == 0:
            return f"{origin}: no GPUs reported.{gaps}"
        largest = max(self.gpus, key=lambda g: g.memory_free_mib or 0.0)
        health = "healthy" if summary.healthy else "NOT healthy"
        alerts = (
            "no active alerts"
            if summary.alerts_count == 0
            else (
                f"{summary.alerts_count} active alert(s): "
                + "; ".join(a.message for a in self.alerts[:3])
            )
        )
        return (
            f"{origin}: {summary.gpu_count} GPU(s), {mib(summary.total_free_mib)} free in total "
            f"(largest {mib(summary.max_free_mib)} on {largest.host}:{largest.index}), "
            f"max utilization {summary.max_utilization_percent:g}%, {health}, {alerts}.{gaps}"
        )


def answer_status(query: StatusQuery, gathered: Gathered[Snapshot]) -> StatusAnswer:
    snapshot, missing = gathered.value, gathered.missing
    gpus = select_gpus(snapshot, query.selector, query.host)
    alerts = active_alerts(snapshot.alerts, gpus)
    free = [g.memory_free_mib for g in gpus if g.memory_free_mib is not None]
    utilization = [g.utilization_percent for g in gpus if g.utilization_percent is not None]
    summary = StatusSummary(
        gpu_count=len(gpus),
        total_free_mib=_round(sum(free)),
        max_free_mib=_round(max(free, default=0.0)),
        max_utilization_percent=_round(max(utilization, default=0.0)),
        healthy=bool(gpus) and all(g.health == "ok" for g in gpus) and not alerts and not missing,
        alerts_count=len(alerts),
    )
    return StatusAnswer(snapshot, list(gpus), alerts, summary, missing)


def active_alerts(alerts: Sequence[Alert], gpus: Sequence[Gpu]) -> list[Alert]:
    """Firing alerts about one of `gpus`, or about a whole host of theirs."""
    uuids = {g.uuid for g in gpus}
    hosts = {g.host for g in gpus}
    return [
        a
        for a in alerts
        if a.state == "firing"
        and (
            a.gpu_uuid in uuids
            or (a.gpu_uuid is None and a.gpu_index is None and a.host in hosts)
            or (
                a.gpu_uuid is None
                and a.gpu_index is not None
                and any(g.index == a.gpu_index and g.host == a.host for g in gpus)
            )
        )
    ]


def _gpu_json(gpu: Gpu) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "host": gpu.host,
        "exporter": gpu.exporter,
        "index": gpu.index,
        "uuid": gpu.uuid,
        "name": gpu.name,
        "health": gpu.health,
        "health_reason": gpu.health_reason,
        **{name: getattr(gpu, name) for name in READINGS},
    }
    fields["clock_event_reasons"] = gpu.clock_event_reasons or None
    return {k: _round(v) if isinstance(v, float) else v for k, v in fields.items() if v is not None}


def _alert_json(alert: Alert) -> dict[str, Any]:
    fields = {
        "rule": alert.rule,
        "severity": alert.severity,
        "host": alert.host,
        "gpu_index": alert.gpu_index,
        "message": alert.message,
        "fired_at": alert.fired_at,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _round(value: float) -> float:
    return round(value, 1)
