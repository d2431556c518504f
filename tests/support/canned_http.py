"""Tiny loopback HTTP servers that stand in for a collector in edge cases.

`CannedServer` answers fixed routes (a wrong service, an old API version, a refusing token);
`SilentServer` accepts connections and never answers (a hung collector).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class CannedReply:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, payload: Any) -> CannedReply:
        return cls(status=status, body=json.dumps(payload).encode())


class CannedServer:
    """Serves `routes[path]` (query string ignored) and 404 for anything else, to GET and POST
    alike; POST bodies are kept in `posted`."""

    def __init__(self, routes: Mapping[str, CannedReply]) -> None:
        self.routes = dict(routes)
        self.seen_authorization: list[str | None] = []
        self.posted: list[tuple[str, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.posted.append((self.path, self.rfile.read(length)))
                self.do_GET()

            def do_GET(self) -> None:
                server.seen_authorization.append(self.headers.get("Authorization"))
                reply = server.routes.get(self.path.split("?", 1)[0])
                if reply is None:
                    reply = CannedReply.json(404, {"detail": "Not Found"})
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> CannedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class SilentServer:
    """Listens on loopback and accepts connections but never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()


class StreamingServer:
    """Answers every connection with `head` at once, then `piece` every `interval_s`, until
    `limit_bytes` are sent or the server is closed: a trickling or an endless collector. With
    `trickle_head` the status line and headers themselves come one byte per interval."""

    def __init__(
        self,
        *,
        piece: bytes,
        interval_s: float,
        limit_bytes: int,
        head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n",
        trickle_head: bool = False,
    ) -> None:
        self._piece, self._interval_s, self._limit = piece, interval_s, limit_bytes
        self._head, self._trickle_head = head, trickle_head
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> StreamingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._send, args=(connection,), daemon=True).start()

    def _send(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)  # the request; its content does not matter
            pieces = (
                [self._head[i : i + 1] for i in range(len(self._head))]
                if self._trickle_head
                else [self._head]
            )
            sent = 0
            try:
                for head_piece in pieces:
                    connection.sendall(head_piece)
                    if self._trickle_head and self._closed.wait(self._interval_s):
                        return
                while sent < self._limit and not self._closed.is_set():
                    connection.sendall(self._piece)
                    sent += len(self._piece)
                    if self._interval_s and self._closed.wait(self._interval_s):
                        return
            except OSError:
                return  # the client hung up, as it should
