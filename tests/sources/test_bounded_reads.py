"""One deadline for the whole answer and a cap on its size, against servers that trickle or
never stop: the call ends on time with one sentence, whatever part of the answer is slow."""

from __future__ import annotations

import time

import pytest

from gpu_insight.sources.client import (
    MAX_ANSWER_BYTES,
    CollectorClient,
    CollectorTimeoutError,
    NotACollectorError,
)
from tests.support.canned_http import StreamingServer

CONNECT_S, READ_S = 1.0, 2.0
DEADLINE_S = CONNECT_S + READ_S


def client(url: str) -> CollectorClient:
    return CollectorClient(url, "t", connect_timeout_s=CONNECT_S, read_timeout_s=READ_S)


def timed_failure(url: str) -> tuple[Exception, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        client(url).snapshot()
    return raised.value, time.monotonic() - started


def test_a_body_trickling_one_byte_a_second_ends_at_the_deadline() -> None:
    with StreamingServer(piece=b" ", interval_s=1.0, limit_bytes=120) as server:
        error, elapsed = timed_failure(server.url)
    assert isinstance(error, CollectorTimeoutError)
    assert "did not send its whole answer to /v1/snapshot within 2 s" in str(error)
    assert elapsed < DEADLINE_S + 0.5


def test_headers_trickling_one_byte_a_second_end_at_the_deadline() -> None:
    with StreamingServer(piece=b"", interval_s=1.0, limit_bytes=0, trickle_head=True) as server:
        error, elapsed = timed_failure(server.url)
    assert isinstance(error, CollectorTimeoutError)
    assert elapsed < DEADLINE_S + 0.5


def test_an_endless_answer_is_refused_at_the_size_cap() -> None:
    piece = b"[" * 65536
    with StreamingServer(piece=piece, interval_s=0.0, limit_bytes=4 * MAX_ANSWER_BYTES) as server:
        error, elapsed = timed_failure(server.url)
    assert isinstance(error, NotACollectorError)
    assert f"more than {MAX_ANSWER_BYTES // 2**20} MiB" in str(error)
    assert elapsed < DEADLINE_S


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {MAX_ANSWER_BYTES + 1}\r\n\r\n".encode()
    )
    with StreamingServer(piece=b"{", interval_s=1.0, limit_bytes=10, head=head) as server:
        error, elapsed = timed_failure(server.url)
    assert isinstance(error, NotACollectorError)
    assert elapsed < 1.0
