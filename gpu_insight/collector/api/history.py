"""`/v1/history`: recent per-GPU utilization, memory, temperature and power.

A full window is hundreds of kilobytes, so each (window, GPU) is rendered once per sample the
history takes in and shared by every request until the next. The longest window is the
configured retention, so this router is built per app.
"""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gpu_insight.collector.api.answers import json_text
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import ApiError, error_answers
from gpu_insight.collector.history import HistoryNotReadyError, UnknownGpuError
from gpu_insight.collector.runtime import HistorySource
from gpu_insight.errors import quoted
from gpu_insight.schemas import History


def _rendered(history: HistorySource, seconds: float, gpu: str | None, step_s: float | None) -> str:
    try:
        return history.query_json(seconds=seconds, gpu=gpu, step_s=step_s)
    except HistoryNotReadyError:
        raise ApiError(
            503, "no_data_yet", "no sample has been recorded yet; retry shortly"
        ) from None
    except UnknownGpuError:
        raise ApiError(
            404, "unknown_gpu", f"no history for a GPU with index or UUID {quoted(gpu)}"
        ) from None


def history_router(max_seconds: float) -> APIRouter:
    router = APIRouter(tags=["v1"])

    @router.get(
        "/v1/history",
        response_model=History,
        responses=error_answers(parameters=True, unknown_gpu=True, needs_sample=True),
    )
    async def history(
        _: Authorized,
        context: Context,
        seconds: Annotated[
            float,
            Query(gt=0, le=max_seconds, description="Window ending at the latest sample"),
        ] = 900,
        gpu: Annotated[str | None, Query(description="GPU index or UUID; all when absent")] = None,
        step_s: Annotated[
            float | None,
            Query(
                gt=0,
                le=max_seconds,
                description="Average the points into steps of this many seconds (a chart's "
                "width in points); the answer's resolution_s says the step used",
            ),
        ] = None,
    ) -> Response:
        """Per-GPU utilization, memory, temperature and power: 1 s points up to 15 min, then
        10 s averages up to 24 h (defaults; see the history config), or coarser steps."""
        source, cache = context.runtime.history, context.history_bodies
        key = (seconds, gpu, step_s)
        # The history has no sample object of its own: its revision marks each one.
        counters = (source.revision,)
        body = cache.peek(None, key, counters)
        if body is None:  # rendering a long window takes milliseconds: not on the event loop
            render = partial(_rendered, source, seconds, gpu, step_s)
            body = await run_in_threadpool(cache.get, None, key, render, counters)
        return json_text(body)

    return router
