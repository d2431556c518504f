"""`/v1/usage`: GPU-hours, memory and energy per group over a window, from the usage books."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gpu_insight.collector.api.answers import json_answer
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import error_answers
from gpu_insight.collector.params import usage_window
from gpu_insight.errors import InputError
from gpu_insight.instants import INSTANT_EXAMPLE, INSTANT_PATTERN
from gpu_insight.schemas import GroupBy, UsageReport

router = APIRouter(tags=["v1"])
INSTANT = f"ISO-8601 (UTC when no zone is given) or epoch seconds, e.g. {INSTANT_EXAMPLE}"
# Published, not enforced here: the parser refuses what does not match with its own sentence.
INSTANT_SYNTAX: dict[str, object] = {"pattern": INSTANT_PATTERN}


@router.get("/v1/usage", response_model=UsageReport, responses=error_answers(parameters=True))
def usage(
    who: Authorized,
    context: Context,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            min_length=1,
            description=f"{INSTANT}; default: 24 h before to",
            json_schema_extra=INSTANT_SYNTAX,
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            min_length=1, description=f"{INSTANT}; default: now", json_schema_extra=INSTANT_SYNTAX
        ),
    ] = None,
    group_by: GroupBy = "app",
    bucket_s: Annotated[
        int | None,
        Query(
            ge=60,
            le=86400,
            multiple_of=60,
            description="Also cut the window into steps of this many seconds (whole minutes)",
        ),
    ] = None,
) -> Response:
    """GPU-hours, idle-but-held time, memory and energy per group over a window, in steps when
    asked (a project token: its apps)."""
    from_t, to_t = usage_window(from_, to, context.clock())
    apps = None if who.apps is None else set(who.apps)
    try:
        report = context.runtime.usage.report(
            from_t=from_t, to_t=to_t, group_by=group_by, apps=apps, bucket_s=bucket_s
        )
    except ValueError as exc:  # more steps than a report holds
        raise InputError(str(exc), "bucket_s") from None
    return json_answer(report)
