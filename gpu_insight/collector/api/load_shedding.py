"""Shedding load: past a bounded number of requests being answered, refuse at once.

A saturated collector that queues answers every request late (seconds, in an outside test) and
its probes with them; one that refuses the excess with 503 and `Retry-After` keeps answering
the rest in time, and clients back off. Probe paths are never refused: a busy collector is not
a dead one. ASGI middleware on the server's one event loop, so a plain counter suffices.
"""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gpu_insight.errors import error_body

RETRY_AFTER_S = 1


class LoadShedder:
    def __init__(self, app: ASGIApp, max_in_flight: int, never_shed: frozenset[str]) -> None:
        self._app = app
        self._max_in_flight = max_in_flight
        self._never_shed = never_shed
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._never_shed:
            await self._app(scope, receive, send)
            return
        if self._in_flight >= self._max_in_flight:
            await self._refusal()(scope, receive, send)
            return
        self._in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._in_flight -= 1

    def _refusal(self) -> JSONResponse:
        message = (
            f"the collector is answering {self._max_in_flight} requests already; "
            f"retry in {RETRY_AFTER_S} s"
        )
        headers = {"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"}
        return JSONResponse(error_body("overloaded", message), 503, headers=headers)
