"""What `gpu_status` answers: per-GPU state, active alerts and a summary for branching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpu_insight.schemas import Alert, Gpu, Snapshot


@dataclass(frozen=True)
class StatusSummary:
    gpu_count: int
    total_free_mib: float
    max_free_mib: float
    max_utilization_percent: float
    healthy: bool  # every GPU reports "ok" and no alert fires for them
    alerts_count: int  # firing alerts for these GPUs (or their hosts)

    def as_variables(self) -> dict[str, Any]:
        return {
            "gpu_count": self.gpu_count,
            "total_free_mib": self.total_free_mib,
            "max_free_mib": self.max_free_mib,
            "max_utilization_percent": self.max_utilization_percent,
            "healthy": self.healthy,
            "alerts_count": self.alerts_count,
        }


@dataclass(frozen=True)
class StatusView:
    snapshot: Snapshot
    gpus: list[Gpu]
    alerts: list[Alert]
    summary: StatusSummary

    def as_json(self) -> dict[str, Any]:
        """Compact: only fields that are known, floats rounded to one decimal."""
        return {
            "source": self.snapshot.source,
            "host": self.snapshot.host,
            "collected_at": self.snapshot.collected_at,
            "summary": self.summary.as_variables(),
            "gpus": [_gpu_json(g) for g in self.gpus],
            "alerts": [_alert_json(a) for a in self.alerts],
        }


def build_status_view(snapshot: Snapshot, gpus: Sequence[Gpu]) -> StatusView:
    alerts = active_alerts(snapshot.alerts, gpus)
    free = [g.memory_free_mib for g in gpus if g.memory_free_mib is not None]
    utilization = [g.utilization_percent for g in gpus if g.utilization_percent is not None]
    summary = StatusSummary(
        gpu_count=len(gpus),
        total_free_mib=_round(sum(free)),
        max_free_mib=_round(max(free, default=0.0)),
        max_utilization_percent=_round(max(utilization, default=0.0)),
        healthy=bool(gpus) and all(g.health == "ok" for g in gpus) and not alerts,
        alerts_count=len(alerts),
    )
    return StatusView(snapshot=snapshot, gpus=list(gpus), alerts=alerts, summary=summary)


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
        "index": gpu.index,
        "uuid": gpu.uuid,
        "name": gpu.name,
        "health": gpu.health,
        "health_reason": gpu.health_reason,
        "utilization_percent": gpu.utilization_percent,
        "memory_used_mib": gpu.memory_used_mib,
        "memory_free_mib": gpu.memory_free_mib,
        "memory_total_mib": gpu.memory_total_mib,
        "temperature_celsius": gpu.temperature_celsius,
        "power_watts": gpu.power_watts,
        "power_limit_watts": gpu.power_limit_watts,
        "clock_event_reasons": gpu.clock_event_reasons or None,
    }
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
