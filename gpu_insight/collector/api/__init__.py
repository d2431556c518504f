"""The collector's HTTP API: JSON under `/v1`, Prometheus `/metrics`, the dashboard at `/`.

Routes only translate: they authenticate, read the runtime's cached objects (never NVML), apply
the token's scope and serialise. One router per area (health, snapshot, history, alerts, usage,
the library's advice and vram-check, webhooks, metrics, dashboard); authentication is the
`Authorized` dependency; every error is JSON (see `errors`). `/healthz`, `/`, `/static/*` and
`/openapi.json` carry no data and need no token; everything else needs one when any token is
configured.
"""

import time
from collections.abc import Callable

from fastapi import FastAPI

from gpu_insight.collector.api import (
    alerts,
    dashboard,
    health,
    library,
    metrics,
    snapshot,
    usage,
    webhooks,
)
from gpu_insight.collector.api.access_log import AccessLog
from gpu_insight.collector.api.context import ApiContext
from gpu_insight.collector.api.errors import install_error_handlers
from gpu_insight.collector.api.history import history_router
from gpu_insight.collector.api.openapi import install_openapi
from gpu_insight.collector.auth import ANONYMOUS, Authenticator
from gpu_insight.collector.metrics import MetricsPage
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.schemas import SCHEMA_VERSION


def build_app(runtime: CollectorRuntime, clock: Callable[[], float] = time.time) -> FastAPI:
    authenticator = Authenticator(runtime.config.auth)
    principals = authenticator.principals() if authenticator.required else [ANONYMOUS]
    app = FastAPI(
        title="GPU Insight collector",
        version=f"v1 (schema {SCHEMA_VERSION})",
        description="GPU state, who uses the GPUs, history, alerts and usage of one GPU host.",
        docs_url=None,  # Swagger UI loads from a CDN; air-gapped hosts use /openapi.json
        redoc_url=None,
    )
    app.state.api_context = ApiContext(
        runtime=runtime,
        clock=clock,
        authenticator=authenticator,
        metrics_pages={p.name: MetricsPage(runtime, p.apps) for p in principals},
    )
    install_error_handlers(app)
    install_openapi(app)
    history_config = runtime.config.history
    max_history_s = max(history_config.fine_retention_s, history_config.coarse_retention_s)
    access_log = runtime.config.server.access_log
    if access_log != "off":
        app.add_middleware(AccessLog, with_query=access_log == "full")
    for router in (
        health.router,
        snapshot.router,
        history_router(max_history_s),
        alerts.router,
        usage.router,
        library.router,
        webhooks.router,
        metrics.router,
        dashboard.router,
    ):
        app.include_router(router)
    return app
