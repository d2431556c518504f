"""The HTTP server under the API: uvicorn's h11 server with the limits it lacks.

uvicorn closes keep-alive connections idle between requests (`idle_timeout_s`) but gives a
client unlimited time to send a request's line and headers, takes any number of connections
and requests, and answers a malformed request in plain text before resetting the connection.
Here a client gets `header_timeout_s` for a request's head (then 408), a connection past
`max_connections` is answered 503 at once, heads over `MAX_HEAD_BYTES` get 431 and other
malformed requests 400, all as the JSON error envelope. Each of those answers is followed by a
lingering close (stop writing, discard what the client still sends for a moment) so that the
client reads the answer instead of a connection reset.

Load is shed here too, not in the app: past `max_in_flight_requests` requests taken in and not
yet answered, counted over all connections and including those still waiting for the event
loop (where a saturated server queues them), a request is answered 503 with `Retry-After` at
once instead of after seconds in the queue. Probes are never refused: a busy collector is not a
dead one.
"""

from __future__ import annotations

import asyncio
import http
import json
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import ServerState

from gpu_insight.collector.config import ServerConfig
from gpu_insight.errors import error_body

MAX_HEAD_BYTES = 64 * 1024  # request line and headers; real clients send a few hundred bytes
LINGER_S = 2.0  # after a refusal: time for the client to finish sending and read the answer
RETRY_AFTER_S = 1
PROBE_PATHS = frozenset({"/healthz"})  # answered even when load is shed


class CollectorServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the collector's server limits, for `LimitedH11Protocol`."""

    def __init__(self, app: Any, limits: ServerConfig, **options: Any) -> None:
        super().__init__(
            app,
            http=LimitedH11Protocol,
            loop="asyncio",  # the event loop the package depends on, whatever else is installed
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            timeout_keep_alive=limits.idle_timeout_s,
            access_log=False,  # the app logs requests itself, as `server.access_log` says
            **options,
        )
        self.limits = limits


class LimitedH11Protocol(H11Protocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, CollectorServerConfig)
        self.limits = config.limits
        self.app = _LoadShedding(self.app, server_state.tasks, self.limits.max_in_flight_requests)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._lingering: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                503,
                "too_many_connections",
                f"the collector holds {self.limits.max_connections} connections already; "
                f"retry in {RETRY_AFTER_S} s",
                retry_after_s=RETRY_AFTER_S,
            )
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            return  # refused: what the client still sends is read and dropped
        cycle: RequestResponseCycle | None = self.cycle  # None before the first request
        if self._head_deadline is None and (cycle is None or cycle.response_complete):
            self._await_head()  # the first bytes of a next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not cycle:  # a request's head arrived and is being answered
            self._stop_awaiting_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_awaiting_head()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to anything h11 cannot parse; `msg` is its generic sentence.
        self._stop_awaiting_head()
        if len(self.conn.trailing_data[0]) > MAX_HEAD_BYTES:
            message = f"the request's line and headers exceed {MAX_HEAD_BYTES // 1024} KiB"
            self._refuse(431, "request_header_too_large", message)
        else:
            self._refuse(400, "bad_request", "the request is not valid HTTP/1.1")

    def _await_head(self) -> None:
        self._head_deadline = self.loop.call_later(self.limits.header_timeout_s, self._head_late)

    def _stop_awaiting_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        message = (
            f"the request's line and headers did not arrive within "
            f"{self.limits.header_timeout_s:g} s"
        )
        self._refuse(408, "request_timeout", message)

    def _refuse(
        self, status: int, code: str, message: str, retry_after_s: int | None = None
    ) -> None:
        """Answers outside any request cycle (none started, or h11 gave up on it), then closes
        after a linger."""
        if self.transport.is_closing():
            return
        body = json.dumps(error_body(code, message)).encode()
        head = [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            "connection: close",
        ]
        if retry_after_s is not None:
            head.append(f"retry-after: {retry_after_s}")
        self.transport.write("\r\n".join(head).encode("ascii") + b"\r\n\r\n" + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_S, self.transport.close)


class _LoadShedding:
    """The app as a connection runs it, behind the server-wide bound on requests in flight."""

    def __init__(self, app: ASGIApp, in_flight: set[Any], max_in_flight: int) -> None:
        self._app = app
        self._in_flight = in_flight  # the server's request tasks: this one among them
        self._max_in_flight = max_in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if len(self._in_flight) <= self._max_in_flight or scope["path"] in PROBE_PATHS:
            await self._app(scope, receive, send)
            return
        body = json.dumps(
            error_body(
                "overloaded",
                f"the collector is answering {self._max_in_flight} requests already; "
                f"retry in {RETRY_AFTER_S} s",
            )
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
