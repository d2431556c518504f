"""The collector's HTTP API: JSON under `/v1`, Prometheus `/metrics`, the dashboard at `/`.

Routes only translate: they authenticate, read the runtime's cached objects (never NVML), apply
the token's scope and serialise. Every error is JSON `{"error": ..., "detail": ...}`; no stack
trace leaves the process. `/healthz`, `/`, `/static/*` and `/openapi.json` carry no data and
need no token; everything else needs one when any token is configured.
"""

# No `from __future__ import annotations` here: FastAPI must see the routes' annotations as
# objects, and they name the per-app auth dependency defined inside build_app.
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from gpu_insight.answers.advice import answer_advice, parse_advice_query
from gpu_insight.answers.vram import answer_vram, parse_vram_request
from gpu_insight.bounded_json import parse_json_object
from gpu_insight.collector.auth import (
    ANONYMOUS,
    Authenticator,
    InvalidTokenError,
    MissingTokenError,
    Principal,
)
from gpu_insight.collector.history import HistoryNotReadyError
from gpu_insight.collector.metrics import MetricsPage
from gpu_insight.collector.params import GROUP_BY_VALUES, parse_group_by, usage_window
from gpu_insight.collector.render_cache import PerSampleCache
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.collector.scope import scope_snapshot, visible_engines, visible_processes
from gpu_insight.errors import InputError
from gpu_insight.schemas import (
    SCHEMA_VERSION,
    AlertList,
    GpuDetail,
    Health,
    HealthStatus,
    History,
    Snapshot,
    UsageReport,
)
from gpu_insight.sources.fleet import Gathered
from gpu_insight.web import page_html, static_asset

NO_STORE = {"Cache-Control": "no-store"}  # answers are live and may be scoped to a token
ERROR_RESPONSES = {
    401: {"description": "No bearer token"},
    403: {"description": "Wrong bearer token"},
    503: {"description": "No sample yet, or the GPU backend is down"},
}


class ApiError(Exception):
    """An answer other than 200, rendered as JSON `{"error", "detail"}` plus `extra` fields."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
        self.extra = extra or {}


def _error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, **extra: str
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status, headers=headers)


def _json(model: BaseModel, status: int = 200) -> Response:
    # Serialised once by pydantic; returning a Response skips FastAPI's re-validation.
    return Response(
        model.model_dump_json(), status, headers=NO_STORE, media_type="application/json"
    )


def _json_object(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload), headers=NO_STORE, media_type="application/json")


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


def build_app(runtime: CollectorRuntime, clock: Callable[[], float] = time.time) -> FastAPI:
    authenticator = Authenticator(runtime.config.auth)
    principals = authenticator.principals() if authenticator.required else [ANONYMOUS]
    metrics_pages = {p.name: MetricsPage(runtime, p.apps) for p in principals}
    snapshot_bodies = PerSampleCache[str]()  # per token scope
    history_max_s = max(
        runtime.config.history.fine_retention_s, runtime.config.history.coarse_retention_s
    )
    bearer = HTTPBearer(auto_error=False, description="The collector's admin or project token")

    app = FastAPI(
        title="GPU Insight collector",
        version=f"v1 (schema {SCHEMA_VERSION})",
        description="GPU state, who uses the GPUs, history, alerts and usage of one GPU host.",
        docs_url=None,  # Swagger UI loads from a CDN; air-gapped hosts use /openapi.json
        redoc_url=None,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.error, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{err['loc'][-1]}: {err['msg']}" for err in exc.errors() if err.get("loc")
        )
        return _error_response(400, "invalid parameter", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "http error")
        return _error_response(exc.status_code, error, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, __: Exception) -> JSONResponse:
        # The server logs the traceback; the client gets no internals.
        return _error_response(500, "internal error", "see the collector's log for details")

    def principal(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        try:
            return authenticator.authenticate(request.headers.get("authorization"))
        except MissingTokenError as exc:
            raise ApiError(
                401, "token required", str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        except InvalidTokenError as exc:
            raise ApiError(403, "token refused", str(exc)) from None

    authorized = Annotated[Principal, Depends(principal)]

    def current_snapshot() -> Snapshot:
        snapshot = runtime.store.latest()
        if snapshot is None:
            raise ApiError(
                503,
                "no data yet",
                "the collector has not taken a sample yet; retry shortly",
                extra={"source": runtime.source},
            )
        if snapshot.health == "down":
            raise ApiError(
                503,
                "backend down",
                snapshot.health_reason or "the GPU backend is down",
                extra={"source": snapshot.source},
            )
        return snapshot

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["health"])
    async def healthz() -> Response:
        """Liveness and freshness for probes: no token, nothing about processes. 503 when down."""
        health = health_of(runtime, clock())
        return _json(health, 503 if health.status == "down" else 200)

    @app.get("/v1/snapshot", response_model=Snapshot, responses=ERROR_RESPONSES, tags=["v1"])
    async def snapshot(who: authorized) -> Response:
        """The latest sample: GPUs, processes with attribution, engines, active alerts."""
        snapshot = current_snapshot()
        body = snapshot_bodies.get(
            snapshot, who.name, lambda: scope_snapshot(snapshot, who.apps).model_dump_json()
        )
        return Response(body, headers=NO_STORE, media_type="application/json")

    @app.get(
        "/v1/gpus/{gpu}",
        response_model=GpuDetail,
        responses={**ERROR_RESPONSES, 404: {"description": "No such GPU"}},
        tags=["v1"],
    )
    async def gpu_detail(
        who: authorized,
        gpu: Annotated[str, Path(description="GPU index (0, 1, ...) or UUID")],
    ) -> Response:
        """One GPU with its processes, engines and alerts."""
        latest = current_snapshot()
        found = next((g for g in latest.gpus if gpu in (g.uuid, str(g.index))), None)
        if found is None:
            known = ", ".join(str(g.index) for g in latest.gpus) or "none"
            raise ApiError(
                404, "unknown gpu", f"no GPU with index or UUID {gpu!r}; indexes here: {known}"
            )
        detail = GpuDetail(
            host=latest.host,
            source=latest.source,
            collected_at=latest.collected_at,
            gpu=found,
            processes=visible_processes(
                (p for p in latest.processes if p.gpu_uuid == found.uuid), who.apps
            ),
            engines=visible_engines(
                (e for e in latest.engines if found.uuid in e.gpu_uuids), who.apps
            ),
            alerts=[a for a in latest.alerts if a.gpu_uuid == found.uuid],
        )
        return _json(detail)

    @app.get(
        "/v1/history",
        response_model=History,
        responses={**ERROR_RESPONSES, 404: {"description": "No such GPU"}},
        tags=["v1"],
    )
    def history(
        _: authorized,
        seconds: Annotated[
            float,
            Query(gt=0, le=history_max_s, description="Window ending at the latest sample"),
        ] = 900,
        gpu: Annotated[str | None, Query(description="GPU index or UUID; all when absent")] = None,
    ) -> Response:
        """Per-GPU utilization, memory, temperature and power: 1 s points up to 15 min, then
        10 s averages up to 24 h (defaults; see the history config)."""
        try:
            answer = runtime.history.query(seconds=seconds, gpu=gpu)
        except HistoryNotReadyError:
            raise ApiError(
                503,
                "no data yet",
                "no sample has been recorded yet; retry shortly",
                extra={"source": runtime.source},
            ) from None
        except ValueError as exc:
            raise ApiError(400, "invalid parameter", str(exc)) from None
        if gpu is not None and not answer.gpus:
            raise ApiError(404, "unknown gpu", f"no history for a GPU with index or UUID {gpu!r}")
        return _json(answer)

    @app.get("/v1/alerts", response_model=AlertList, responses=ERROR_RESPONSES, tags=["v1"])
    async def alerts(_: authorized, include_resolved: bool = False) -> Response:
        """Pending and firing alerts; with include_resolved, recently resolved ones too."""
        return _json(
            AlertList(
                host=runtime.hostname,
                source=runtime.source,
                alerts=runtime.alerts.alerts(include_resolved=include_resolved),
            )
        )

    @app.get("/v1/usage", response_model=UsageReport, responses=ERROR_RESPONSES, tags=["v1"])
    def usage(
        who: authorized,
        from_: Annotated[
            str | None,
            Query(alias="from", description="Epoch seconds or ISO-8601; default: 24 h before to"),
        ] = None,
        to: Annotated[
            str | None, Query(description="Epoch seconds or ISO-8601; default: now")
        ] = None,
        group_by: Annotated[str, Query(description=" | ".join(GROUP_BY_VALUES))] = "app",
        bucket_s: Annotated[
            int | None, Query(description="Also cut the window into steps of this many seconds")
        ] = None,
    ) -> Response:
        """GPU-hours, idle-but-held time, memory and energy per group over a window, in steps
        when asked (a project token: its apps)."""
        try:
            from_t, to_t = usage_window(from_, to, clock())
            grouping = parse_group_by(group_by)
            apps = None if who.apps is None else set(who.apps)
            report = runtime.usage.report(
                from_t=from_t, to_t=to_t, group_by=grouping, apps=apps, bucket_s=bucket_s
            )
        except ValueError as exc:
            raise ApiError(400, "invalid parameter", str(exc)) from None
        return _json(report)

    # -- the library's answers, served here too so the collector's own dashboard has them --

    @app.get("/v1/advice", responses=ERROR_RESPONSES, tags=["v1"])
    async def advice(request: Request, who: authorized) -> Response:
        """serving_advice over the latest snapshot (gpu, host, model, engine, focus)."""
        try:
            query = parse_advice_query(dict(request.query_params))
        except InputError as exc:
            raise ApiError(400, "invalid parameter", str(exc)) from None
        scoped = scope_snapshot(current_snapshot(), who.apps)
        return _json_object(answer_advice(query, Gathered(scoped)).as_json())

    @app.post("/v1/vram-check", responses=ERROR_RESPONSES, tags=["v1"])
    async def vram_check(request: Request, who: authorized) -> Response:
        """vram_check with a JSON body of its parameters, placed on this host's GPUs."""
        try:
            asked = parse_vram_request(
                parse_json_object(await request.body(), "vram_check parameters")
            )
            answer = answer_vram(
                asked, lambda: Gathered(scope_snapshot(current_snapshot(), who.apps))
            )
        except InputError as exc:
            raise ApiError(400, "invalid parameter", str(exc)) from None
        return _json_object(answer.as_json())

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}, **ERROR_RESPONSES},
        tags=["metrics"],
    )
    async def metrics(request: Request, who: authorized) -> Response:
        """Prometheus exposition (text 0.0.4 or OpenMetrics, as the scraper's Accept asks)."""
        body, content_type = metrics_pages[who.name].render(request.headers.get("accept"))
        return Response(body, headers=NO_STORE, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> Response:
        return Response(page_html(), media_type="text/html; charset=utf-8")

    @app.get("/static/{name:path}", include_in_schema=False)
    async def static(name: str) -> Response:
        asset = static_asset(name)
        if asset is None:
            raise ApiError(404, "not found", f"no dashboard asset named {name!r}")
        body, content_type = asset
        return Response(body, media_type=content_type)

    return app
