"""`/v1/advice` and `POST /v1/vram-check`: the plugin library's answers (serving_advice and
vram_check are pure code over a snapshot), served here too, so that the collector's own
dashboard has its advice panel and its "Will it fit?" form. Both see what the token may see.
The collector resolves models from the catalog or a pasted config only: it makes no request
outside its host, where the Dify endpoint may ask the Hugging Face Hub."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gpu_insight.answers.advice import (
    advice_prices,
    answer_advice,
    books_window,
    parse_advice_query,
    wants_books,
)
from gpu_insight.answers.vram import PARAMETERS, answer_vram, parse_vram_request
from gpu_insight.bounded_json import parse_json_object
from gpu_insight.collector.api.answers import json_text
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import error_answers
from gpu_insight.collector.api.snapshot import current_snapshot
from gpu_insight.collector.scope import scope_snapshot
from gpu_insight.errors import UnknownModelError
from gpu_insight.estimate.resolve import resolve_local
from gpu_insight.sources.fleet import Gathered

router = APIRouter(tags=["v1"])


def _json_object(payload: dict[str, Any]) -> Response:
    return json_text(json.dumps(payload))


# What the tool's parser reads; its choices and ranges are checked there, with its sentences.
Text = Annotated[str | None, Query(max_length=256)]
# The body: vram_check's parameters, loose as the tool takes them (numbers may come as text).
VRAM_CHECK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "vram_check's parameters: " + ", ".join(PARAMETERS),
                    "properties": {name: {} for name in PARAMETERS},
                    "additionalProperties": False,
                }
            }
        },
    }
}


@router.get("/v1/advice", responses=error_answers(parameters=True, needs_sample=True))
async def advice(
    who: Authorized,
    context: Context,
    gpu: Text = None,
    host: Text = None,
    model: Text = None,
    engine: Text = None,
    focus: Text = None,
) -> Response:
    """serving_advice over the latest snapshot: the GPUs (`gpu`: all, an index or a UUID;
    `host`), a model planned or running (`model`, `engine`) and a `focus`, as the tool takes
    them."""
    query = parse_advice_query(
        {"gpu": gpu, "host": host, "model": model, "engine": engine, "focus": focus}
    )
    runtime = context.runtime
    snapshot = Gathered(scope_snapshot(current_snapshot(runtime), who.apps))
    books = None
    if wants_books(query):  # focus cost: the cost rules read this collector's books
        from_t, to_t = books_window(snapshot.value)
        apps = None if who.apps is None else set(who.apps)
        report = runtime.usage.report(from_t=from_t, to_t=to_t, group_by="gpu", apps=apps)
        books = Gathered(report)
    prices = advice_prices({}, books.value if books else None)  # the price the books carry
    return _json_object(answer_advice(query, snapshot, books, prices).as_json())


@router.post(
    "/v1/vram-check", responses=error_answers(parameters=True), openapi_extra=VRAM_CHECK_BODY
)
async def vram_check(request: Request, who: Authorized, context: Context) -> Response:
    """vram_check with a JSON object of its parameters as the body, placed on this host's GPUs;
    without a sample it still answers, without the live part."""
    asked = parse_vram_request(parse_json_object(await request.body(), "vram_check parameters"))
    try:
        resolve_local(asked)
    except UnknownModelError as exc:
        raise UnknownModelError(
            f"{exc} This collector does not look models up on the Hugging Face Hub; ask through "
            "the Dify endpoint, which does.",
            "model",
        ) from None

    def snapshot() -> Gathered:
        return Gathered(scope_snapshot(current_snapshot(context.runtime), who.apps))

    return _json_object(answer_vram(asked, snapshot).as_json())
