"""`/v1/usage`: GPU-hours, memory and energy per group over a window, from the usage books."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gpu_insight.collector.api.answers import json_answer
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import ERROR_RESPONSES, ApiError
from gpu_insight.collector.params import GROUP_BY_VALUES, parse_group_by, usage_window
from gpu_insight.schemas import UsageReport

router = APIRouter(tags=["v1"])


@router.get("/v1/usage", response_model=UsageReport, responses=ERROR_RESPONSES)
def usage(
    who: Authorized,
    context: Context,
    from_: Annotated[
        str | None,
        Query(alias="from", description="Epoch seconds or ISO-8601; default: 24 h before to"),
    ] = None,
    to: Annotated[str | None, Query(description="Epoch seconds or ISO-8601; default: now")] = None,
    group_by: Annotated[str, Query(description=" | ".join(GROUP_BY_VALUES))] = "app",
) -> Response:
    """GPU-hours, memory and energy per group over a window (a project token: its apps)."""
    try:
        from_t, to_t = usage_window(from_, to, context.clock())
        grouping = parse_group_by(group_by)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    apps = None if who.apps is None else set(who.apps)
    report = context.runtime.usage.report(from_t=from_t, to_t=to_t, group_by=grouping, apps=apps)
    return json_answer(report)
