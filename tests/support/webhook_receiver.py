"""A real HTTP receiver on 127.0.0.1 for the collector's alert deliveries.

It records every request as it came (method, path, headers, body, and the raw bytes, which a
test can hand on to the trigger plugin as Dify would), answers through a function of the
request, and can go down (its port closed: connections are refused, as with a dead service)
and come back up on the same port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.plugin_runtime import raw_http_request

WAIT_STEP_S = 0.05


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # epoch seconds

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def raw(self) -> bytes:
        return raw_http_request(self.method, self.path, self.headers, self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=dict)


Answer = Callable[[Received], Reply]


class WebhookReceiver:
    def __init__(self, answer: Answer | None = None, path: str = "/hooks/gpu-alerts") -> None:
        self.answer: Answer = answer or (lambda _: Reply())
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.up()
        self.url = f"http://127.0.0.1:{self._port}{path}"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def up(self) -> None:
        """Listen (again, on the same port)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    method=self.command,
                    path=self.path,
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length),
                    at=time.time(),
                )
                with receiver._lock:
                    receiver._received.append(request)
                reply = receiver.answer(request)
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the sender stopped waiting for a slow answer

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(WAIT_STEP_S,), daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Close the port: every connection is refused until `up()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(
        self, done: Callable[[list[Received]], bool], timeout_s: float, what: str
    ) -> list[Received]:
        """The requests received once `done(requests)` holds; fails after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            received = self.received
            if done(received):
                return received
            time.sleep(WAIT_STEP_S)
        raise AssertionError(
            f"{what}: not within {timeout_s:.0f} s; received {len(self.received)} requests"
        )

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()
