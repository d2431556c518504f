"""The HTTP layer under raw sockets: slow, idle, surplus and malformed clients are answered with
the JSON envelope and let go, and the access log leaves query strings out unless asked."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import urlsplit

import pytest

from gpu_insight.collector.config import ServerConfig
from tests.collector.api_support import ServedApi, make_runtime, publish, sample_snapshot

HEADER_TIMEOUT_S = 0.5
IDLE_TIMEOUT_S = 1
MAX_CONNECTIONS = 3
READ_TIMEOUT_S = 5.0
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: collector\r\n\r\n"


def serve(**server: object) -> ServedApi:
    runtime = make_runtime(admin_token=None, with_project=False)
    runtime.config = runtime.config.model_copy(
        update={"server": ServerConfig.model_validate(server)}
    )
    served = ServedApi(runtime)
    publish(runtime, sample_snapshot())
    return served


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    limits = {
        "header_timeout_s": HEADER_TIMEOUT_S,
        "idle_timeout_s": IDLE_TIMEOUT_S,
        "max_connections": MAX_CONNECTIONS,
    }
    with serve(**limits) as served:
        yield served


def connect(api: ServedApi) -> socket.socket:
    address = urlsplit(api.url)
    assert address.port is not None
    sock = socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it holds the connection open."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response on a connection that stays open (its body has a content-length)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
        ).split(b":")[1]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def answer(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body)


def test_a_request_head_that_never_completes_is_408_json_and_closed(api: ServedApi) -> None:
    with closing(connect(api)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: coll")
        started = time.monotonic()
        status, headers, body = answer(read_until_closed(sock))
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 2
    assert (status, body["error"]) == (408, "request_timeout")
    assert headers["connection"] == "close"


def test_a_connection_that_sends_nothing_is_let_go(api: ServedApi) -> None:
    with closing(connect(api)) as sock:
        status, _, body = answer(read_until_closed(sock))
    assert (status, body["error"]) == (408, "request_timeout")


def test_a_trickled_next_request_on_a_kept_alive_connection_is_408(api: ServedApi) -> None:
    with closing(connect(api)) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        for byte in b"GET /healthz HTTP/1.1\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # the server answered and closed while the head was still trickling
            time.sleep(HEADER_TIMEOUT_S / 4)
        status, _, body = answer(read_until_closed(sock))
    assert (status, body["error"]) == (408, "request_timeout")


def test_an_idle_kept_alive_connection_is_closed(api: ServedApi) -> None:
    with closing(connect(api)) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
    assert IDLE_TIMEOUT_S - 0.2 < time.monotonic() - started < IDLE_TIMEOUT_S + 2


def test_a_connection_past_the_cap_is_503_json_with_retry_after(api: ServedApi) -> None:
    held = [connect(api) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:
            sock.sendall(REQUEST)
            assert read_response(sock).startswith(b"HTTP/1.1 200")  # counted, kept alive
        with closing(connect(api)) as surplus:
            surplus.sendall(REQUEST)
            status, headers, body = answer(read_until_closed(surplus))
    finally:
        for sock in held:
            sock.close()
    assert (status, body["error"]) == (503, "too_many_connections")
    assert headers["retry-after"] == "1"


def test_a_malformed_request_is_400_json(api: ServedApi) -> None:
    with closing(connect(api)) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = answer(read_until_closed(sock))
    assert (status, body["error"]) == (400, "bad_request")
    assert headers["content-type"] == "application/json"


def test_a_megabyte_of_headers_is_431_json_not_a_reset(api: ServedApi) -> None:
    with closing(connect(api)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: c\r\nX-Big: " + b"a" * 2**20 + b"\r\n\r\n")
        status, _, body = answer(read_until_closed(sock))
    assert (status, body["error"]) == (431, "request_header_too_large")


@pytest.mark.parametrize(
    ("setting", "logged"),
    [("path", "/v1/history"), ("full", "/v1/history?seconds=60&gpu=0")],
)
def test_the_access_log_has_the_query_string_only_when_set_to_full(
    caplog: pytest.LogCaptureFixture, setting: str, logged: str
) -> None:
    with caplog.at_level(logging.INFO), serve(access_log=setting) as served:
        assert served.get("/v1/history?seconds=60&gpu=0", token=None).status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if r.name.endswith(".access")]
    assert line.endswith(f'"GET {logged} HTTP/1.1" 200')


def test_by_default_the_access_log_leaves_out_query_strings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO), serve() as served:
        assert served.get("/v1/history?seconds=60&gpu=0", token=None).status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if r.name.endswith(".access")]
    assert line.endswith('"GET /v1/history HTTP/1.1" 200')


def test_the_access_log_can_be_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), serve(access_log="off") as served:
        assert served.get("/healthz", token=None).status_code == 200
    assert not [r for r in caplog.records if r.name.endswith(".access")]
