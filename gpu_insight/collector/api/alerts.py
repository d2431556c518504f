"""`/v1/alerts`: pending and firing alerts, and on request the recently resolved ones."""

from fastapi import APIRouter
from fastapi.responses import Response

from gpu_insight.collector.api.answers import json_answer
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import error_answers
from gpu_insight.schemas import AlertList

router = APIRouter(tags=["v1"])


@router.get("/v1/alerts", response_model=AlertList, responses=error_answers(parameters=True))
async def alerts(_: Authorized, context: Context, include_resolved: bool = False) -> Response:
    """Pending and firing alerts; with include_resolved, recently resolved ones too."""
    runtime = context.runtime
    return json_answer(
        AlertList(
            host=runtime.hostname,
            source=runtime.source,
            alerts=runtime.alerts.alerts(include_resolved=include_resolved),
        )
    )
