"""`/healthz`: liveness and freshness for probes; no token, nothing about processes."""

from fastapi import APIRouter
from fastapi.responses import Response

from gpu_insight.collector.api.answers import json_answer
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.schemas import Health, HealthStatus

router = APIRouter(tags=["health"])


def health_of(runtime: CollectorRuntime, now: float) -> Health:
    """ok / degraded / down from the latest snapshot and its age; nothing about processes."""
    snapshot = runtime.store.latest()
    if snapshot is None:
        return Health(status="down", source=runtime.source, gpu_count=0, reason="no sample yet")
    age_s = max(0.0, now - snapshot.collected_at)
    stale_after_s = runtime.config.alerts.stale_after_s
    status: HealthStatus = snapshot.health
    reason = snapshot.health_reason
    if status != "down" and age_s > stale_after_s:
        status = "degraded"
        reason = f"the last sample is {age_s:.0f} s old (stale after {stale_after_s:g} s)"
    return Health(
        status=status,
        source=snapshot.source,
        gpu_count=len(snapshot.gpus),
        last_sample_age_s=round(age_s, 3),
        reason=reason,
    )


@router.get(
    "/healthz",
    response_model=Health,
    responses={
        503: {"model": Health, "description": "Down: no sample yet, or the backend is down"}
    },
)
async def healthz(context: Context) -> Response:
    """Liveness and freshness for probes: no token, nothing about processes. 503 when down."""
    health = health_of(context.runtime, context.clock())
    return json_answer(health, 503 if health.status == "down" else 200)
