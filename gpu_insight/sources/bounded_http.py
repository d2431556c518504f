"""One HTTP request with a deadline for the whole answer and a cap on its size.

`requests` bounds each socket read, not the answer: a server that trickles one byte every few
seconds, or one that never stops sending, would hold a tool (and the memory of the plugin)
for as long as it likes. Here a watchdog shuts the connection's socket at the deadline
(headers included), the body is read in pieces with the time left as each read's timeout, and
the answer is refused past `max_bytes`. Use a session from `deadline_session()`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError, ReadTimeoutError

READ_PIECE_BYTES = 64 * 1024


class AnswerTooSlowError(Exception):
    """The answer did not arrive in full before the deadline."""


class AnswerTooLargeError(Exception):
    """The answer is larger than the cap."""


@dataclass(frozen=True)
class BoundedResponse:
    status_code: int
    headers: Mapping[str, str]  # case-insensitive, as requests gives them
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Raises ValueError when the body is not JSON. (pydantic's parser: a 1,000-GPU
        Prometheus answer of a few MiB decodes in half the time `json.loads` takes.)"""
        return pydantic_core.from_json(self.content)

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object; None when it is anything else."""
        try:
            payload = self.json()
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None


class _CallDeadline(threading.local):
    """The deadline of the call running in this thread, and the watchdogs it armed."""

    at: float | None = None
    watchdogs: list[threading.Timer]


_call = _CallDeadline()


class _WatchedConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


def _watch(sock: socket.socket) -> None:
    if _call.at is None:
        return
    watchdog = threading.Timer(max(0.0, _call.at - time.monotonic()), _shut, (sock,))
    watchdog.daemon = True
    watchdog.start()
    _call.watchdogs.append(watchdog)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: the call ended just now
        sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another thread


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


def deadline_session() -> requests.Session:
    session = requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def bounded_get(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    connect_timeout_s: float,
    deadline_s: float,
    max_bytes: int,
) -> BoundedResponse:
    """GET `url`, as `bounded_request` does."""
    return bounded_request(
        session,
        "GET",
        url,
        params=params,
        headers=headers,
        connect_timeout_s=connect_timeout_s,
        deadline_s=deadline_s,
        max_bytes=max_bytes,
    )


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str],
    body: bytes | None = None,
    connect_timeout_s: float,
    deadline_s: float,
    max_bytes: int,
) -> BoundedResponse:
    """`method` on `url` with `body`; `requests` exceptions pass through for the connection and
    the headers, `AnswerTooSlowError` / `AnswerTooLargeError` for the answer's body. Redirects
    are not followed."""
    deadline = time.monotonic() + deadline_s
    _call.at, _call.watchdogs = deadline, []
    try:
        try:
            response = session.request(
                method,
                url,
                params=params,
                data=body,
                # a fresh connection per call, so the watchdog always guards it
                headers={**headers, "Connection": "close"},
                timeout=(connect_timeout_s, deadline_s),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.ConnectionError:
            if time.monotonic() >= deadline:  # the watchdog cut it before the headers came
                raise requests.exceptions.ReadTimeout() from None
            raise
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdecimal() and int(declared) > max_bytes:
                raise AnswerTooLargeError(declared)
            content = _read_body(response, deadline, max_bytes)
        finally:
            response.close()
    finally:
        for watchdog in _call.watchdogs:
            watchdog.cancel()
        _call.at, _call.watchdogs = None, []
    if time.monotonic() >= deadline:  # cut while reading: what came is not the whole answer
        raise AnswerTooSlowError()
    return BoundedResponse(response.status_code, response.headers, content)


def _read_body(response: requests.Response, deadline: float, max_bytes: int) -> bytes:
    raw = response.raw
    connection = getattr(raw, "connection", None)
    sock: socket.socket | None = getattr(connection, "sock", None)
    pieces: list[bytes] = []
    size = 0
    while True:
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise AnswerTooSlowError()
        if sock is not None:
            sock.settimeout(left_s)
        try:
            # what has arrived, not a full piece; decoded, so the cap holds for gzip too
            piece = raw.read1(READ_PIECE_BYTES, decode_content=True)
        except (ReadTimeoutError, TimeoutError):
            raise AnswerTooSlowError() from None
        except ProtocolError as error:
            timed_out = any(isinstance(arg, TimeoutError) for arg in error.args)
            if timed_out or time.monotonic() >= deadline:  # a timeout, or the watchdog's cut
                raise AnswerTooSlowError() from None
            raise requests.exceptions.ConnectionError("the answer broke off") from None
        if not piece:
            return b"".join(pieces)
        size += len(piece)
        if size > max_bytes:
            raise AnswerTooLargeError(str(size))
        pieces.append(piece)


def connection_cause(error: requests.exceptions.ConnectionError) -> str:
    """Why a connection failed, in a few words for a sentence."""
    text = str(error).lower()
    if "refused" in text:
        return "connection refused"
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or "name resolution" in text
        or "getaddrinfo" in text
    ):
        return "host name not found"
    if "no route" in text or "unreachable" in text:
        return "no route to host"
    return "connection failed"
