"""`/v1/snapshot` and `/v1/gpus/{gpu}`: the latest sample, whole or for one GPU, as the token may
see it."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from gpu_insight.collector.api.answers import json_answer, json_text
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import ApiError, error_answers
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.collector.scope import scope_snapshot, visible_engines, visible_processes
from gpu_insight.errors import quoted
from gpu_insight.schemas import GpuDetail, Snapshot

router = APIRouter(tags=["v1"])


def current_snapshot(runtime: CollectorRuntime) -> Snapshot:
    """The latest snapshot, or 503 while there is none or the backend is down."""
    snapshot = runtime.store.latest()
    if snapshot is None:
        raise ApiError(
            503, "no_data_yet", "the collector has not taken a sample yet; retry shortly"
        )
    if snapshot.health == "down":
        raise ApiError(503, "backend_down", snapshot.health_reason or "the GPU backend is down")
    return snapshot


@router.get("/v1/snapshot", response_model=Snapshot, responses=error_answers(needs_sample=True))
async def snapshot(who: Authorized, context: Context) -> Response:
    """The latest sample: GPUs, processes with attribution, engines, active alerts."""
    latest = current_snapshot(context.runtime)
    body = context.snapshot_bodies.get(
        latest, who.name, lambda: scope_snapshot(latest, who.apps).model_dump_json()
    )
    return json_text(body)


@router.get(
    "/v1/gpus/{gpu}",
    response_model=GpuDetail,
    responses=error_answers(unknown_gpu=True, needs_sample=True),
)
async def gpu_detail(
    who: Authorized,
    context: Context,
    gpu: Annotated[str, Path(description="GPU index (0, 1, ...) or UUID")],
) -> Response:
    """One GPU with its processes, engines and alerts."""
    latest = current_snapshot(context.runtime)
    found = next((g for g in latest.gpus if gpu in (g.uuid, str(g.index))), None)
    if found is None:
        known = ", ".join(str(g.index) for g in latest.gpus) or "none"
        raise ApiError(
            404, "unknown_gpu", f"no GPU with index or UUID {quoted(gpu)}; indexes here: {known}"
        )
    detail = GpuDetail(
        host=latest.host,
        source=latest.source,
        collected_at=latest.collected_at,
        gpu=found,
        processes=visible_processes(
            (p for p in latest.processes if p.gpu_uuid == found.uuid), who.apps
        ),
        engines=visible_engines((e for e in latest.engines if found.uuid in e.gpu_uuids), who.apps),
        alerts=[a for a in latest.alerts if a.gpu_uuid == found.uuid],
    )
    return json_answer(detail)
