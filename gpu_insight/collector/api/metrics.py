"""`/metrics`: the Prometheus exposition of the token's scope."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gpu_insight.collector.api.answers import NO_STORE
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import error_answers

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}, "application/openmetrics-text": {}}},
        **error_answers(),
    },
)
async def metrics(request: Request, who: Authorized, context: Context) -> Response:
    """Prometheus exposition (text 0.0.4 or OpenMetrics, as the scraper's Accept asks)."""
    body, content_type = context.metrics_pages[who.name].render(request.headers.get("accept"))
    return Response(body, headers=NO_STORE, media_type=content_type)
