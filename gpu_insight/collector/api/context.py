"""What every route reads: the runtime, the clock and the renderings shared between requests.

`build_app` puts one `ApiContext` on the app's state; routes receive it as the `Context`
dependency, so the routers themselves are plain module-level objects.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from gpu_insight.collector.auth import Authenticator
from gpu_insight.collector.metrics import MetricsPage
from gpu_insight.collector.render_cache import PerSampleCache
from gpu_insight.collector.runtime import CollectorRuntime

HISTORY_BODIES_PER_SAMPLE = 16


@dataclass
class ApiContext:
    runtime: CollectorRuntime
    clock: Callable[[], float]
    authenticator: Authenticator
    metrics_pages: dict[str, MetricsPage]  # by principal name: one scope each
    snapshot_bodies: PerSampleCache[str] = field(default_factory=PerSampleCache)  # by scope
    # by (seconds, gpu) as requested, so bounded: other windows are rendered but not kept
    history_bodies: PerSampleCache[str] = field(
        default_factory=lambda: PerSampleCache(max_entries=HISTORY_BODIES_PER_SAMPLE)
    )


async def api_context(request: Request) -> ApiContext:
    # async, as every dependency here: FastAPI runs a plain `def` one in a worker thread.
    context: ApiContext = request.app.state.api_context
    return context


Context = Annotated[ApiContext, Depends(api_context)]
