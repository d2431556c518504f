"""A fake Docker Engine API on a unix socket, serving `GET /containers/<id>/json`."""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextmanager
def fake_docker(containers: dict[str, dict]) -> Iterator[tuple[str, list[str]]]:
    """Yields (socket path, paths requested so far); `containers` maps id → inspect JSON."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            container_id = self.path.removeprefix("/containers/").removesuffix("/json")
            document = containers.get(container_id)
            body = json.dumps(document or {"message": "No such container"}).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    # unix socket paths are limited to ~108 bytes: keep the directory short
    with tempfile.TemporaryDirectory(prefix="gi-docker-", dir="/tmp") as directory:
        path = str(Path(directory) / "docker.sock")
        server = _UnixHTTPServer(path, Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield path, requests
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def inspect_document(
    name: str, labels: dict[str, str] | None = None, ports: dict[str, str] | None = None
) -> dict:
    """A minimal `docker inspect` document; ports maps "8000/tcp" → host port."""
    return {
        "Name": f"/{name}",
        "Config": {"Labels": labels or {}},
        "NetworkSettings": {
            "Ports": {key: [{"HostPort": host}] for key, host in (ports or {}).items()}
        },
    }
