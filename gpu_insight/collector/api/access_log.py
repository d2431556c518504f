"""The access log: one line per request answered, without its query string unless asked for.

Query strings say who asked about what (a team's usage window, a GPU) and are nobody's business
in a log by default: `server.access_log` is `path` (client, method, path, status), `full` (with
the query string) or `off`. Tokens travel in a header and are never logged. The path is logged
as sent (still percent-encoded, so it cannot break a line) and cut to a bounded length.
"""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("gpu_insight.collector.access")
MAX_LOGGED_TARGET_CHARS = 200


class AccessLog:
    def __init__(self, app: ASGIApp, with_query: bool) -> None:
        self._app = app
        self._with_query = with_query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            log.info(
                '%s - "%s %s HTTP/%s" %d',
                _client(scope),
                scope["method"],
                self._target(scope),
                scope["http_version"],
                status,
            )

    def _target(self, scope: Scope) -> str:
        target: bytes = scope.get("raw_path") or scope["path"].encode()
        if self._with_query and scope["query_string"]:
            target += b"?" + scope["query_string"]
        return target.decode("ascii", "backslashreplace")[:MAX_LOGGED_TARGET_CHARS]


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
