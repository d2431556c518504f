"""`/` and `/static/{name}`: the dashboard page and its bundled assets; they carry no data."""

from fastapi import APIRouter
from fastapi.responses import Response

from gpu_insight.collector.api.errors import ApiError
from gpu_insight.errors import quoted
from gpu_insight.web import page_html, static_asset

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard() -> Response:
    return Response(page_html(), media_type="text/html; charset=utf-8")


@router.get("/static/{name:path}")
async def static(name: str) -> Response:
    asset = static_asset(name)
    if asset is None:
        raise ApiError(404, "not_found", f"no dashboard asset named {quoted(name)}")
    body, content_type = asset
    return Response(body, media_type=content_type)
