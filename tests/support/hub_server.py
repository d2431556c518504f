"""A Hugging Face Hub-shaped server on loopback, with a second "CDN" host, as the Hub serves.

The hub answers `GET /api/models/{repo}` (and `/revision/{rev}`) with the commit and file list,
and `GET /{repo}/resolve/{rev}/{file}`: small files directly, checkpoint files by a 302 to the
CDN host, which serves HTTP Range requests. Files are `VirtualFile`s: their headers exist, their
data sections are only declared, and every range that reaches into one is recorded, so a test
can assert that no tensor data was ever asked for. Gated repositories want a bearer token.
Faults a test can switch on: `html` (the hub answers an HTML page), `redirect_loop`, `slow_s`
(every hub answer waits), `ignore_range` (the CDN sends whole files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.support.checkpoints import (
    Tensors,
    VirtualFile,
    index_file,
    safetensors_file,
    shard,
    shard_names,
)

LARGE_SUFFIXES = (".safetensors", ".gguf")


@dataclass
class Repo:
    files: dict[str, bytes | VirtualFile]
    gated_token: str | None = None  # a token that may read it; None: public

    @property
    def commit(self) -> str:
        return hashlib.sha1(json.dumps(sorted(self.files)).encode()).hexdigest()


def sharded_repo(config: dict[str, Any], tensors: Tensors, count: int) -> Repo:
    """A safetensors repository: config.json, the shard index and `count` shards."""
    parts = shard(tensors, count)
    files: dict[str, bytes | VirtualFile] = {
        "config.json": json.dumps(config).encode(),
        "model.safetensors.index.json": index_file(parts),
    }
    files |= {
        name: safetensors_file(part) for name, part in zip(shard_names(count), parts, strict=True)
    }
    return Repo(files)


@dataclass
class Faults:
    html: bool = False
    redirect_loop: bool = False
    slow_s: float = 0.0
    ignore_range: bool = False


@dataclass
class Served:
    """What the servers were asked, for assertions."""

    hub_requests: list[str] = field(default_factory=list)
    cdn_ranges: list[tuple[str, int, int]] = field(default_factory=list)
    data_ranges: list[tuple[str, int, int]] = field(default_factory=list)  # reached into data
    tokens_seen_by_cdn: list[str] = field(default_factory=list)


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.served = Served()
        self._lock = threading.Lock()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._hub_get))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(self._cdn_get))
        for server in (self._hub, self._cdn):
            server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def __enter__(self) -> HubServer:
        for server in (self._hub, self._cdn):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    @contextmanager
    def faulty(self, **faults: Any) -> Iterator[None]:
        self.faults = Faults(**faults)
        try:
            yield
        finally:
            self.faults = Faults()

    def reset_counts(self) -> None:
        self.served = Served()

    # -- routes ---------------------------------------------------------------------------

    @staticmethod
    def _handler(route: Any) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                route(self)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _hub_get(self, request: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(request.path).path)
        with self._lock:
            self.served.hub_requests.append(path)
        if self.faults.slow_s:
            time.sleep(self.faults.slow_s)
        if self.faults.html:
            _send(request, 200, b"<!doctype html><title>Sign in</title>", "text/html")
            return
        if path.startswith("/api/models/"):
            self._api(request, path.removeprefix("/api/models/"))
            return
        repo_id, _, rest = path.lstrip("/").partition("/resolve/")
        revision, _, file = rest.partition("/")
        repo = self.repos.get(repo_id)
        if repo is None or not file:
            _send_error(request, 404, "RepoNotFound")
            return
        if not self._allowed(request, repo):
            return
        if self.faults.redirect_loop:  # back and forth between two addresses
            other = file.removeprefix("again/") if file.startswith("again/") else f"again/{file}"
            _redirect(request, f"/{repo_id}/resolve/{revision}/{other}")
            return
        if revision not in (repo.commit, "main") or file not in repo.files:
            _send_error(request, 404, "EntryNotFound")
            return
        content = repo.files[file]
        if file.endswith(LARGE_SUFFIXES):
            _redirect(request, f"{self.cdn_url}/{repo_id}/{repo.commit}/{file}?signature=x")
        elif isinstance(content, bytes):
            _send(request, 200, content, "application/json")

    def _api(self, request: BaseHTTPRequestHandler, rest: str) -> None:
        repo_id, _, revision = rest.partition("/revision/")
        repo = self.repos.get(repo_id)
        if repo is None:
            _send_error(request, 404, "RepoNotFound")
            return
        info = {
            "id": repo_id,
            "sha": repo.commit,
            "gated": "manual" if repo.gated_token else False,
            "siblings": [{"rfilename": name} for name in sorted(repo.files)],
        }
        if revision and revision not in (repo.commit, "main"):
            _send_error(request, 404, "RevisionNotFound")
            return
        _send(request, 200, json.dumps(info).encode(), "application/json")

    def _allowed(self, request: BaseHTTPRequestHandler, repo: Repo) -> bool:
        if repo.gated_token is None:
            return True
        presented = request.headers.get("Authorization")
        if presented == f"Bearer {repo.gated_token}":
            return True
        _send_error(request, 403 if presented else 401, "GatedRepo")
        return False

    def _cdn_get(self, request: BaseHTTPRequestHandler) -> None:
        parts = unquote(urlsplit(request.path).path).lstrip("/").split("/", 3)
        if len(parts) != 4 or parts[0] + "/" + parts[1] not in self.repos:
            _send_error(request, 404, "EntryNotFound")
            return
        repo = self.repos[parts[0] + "/" + parts[1]]
        file = parts[3]
        content = repo.files.get(file)
        if not isinstance(content, VirtualFile):
            _send_error(request, 404, "EntryNotFound")
            return
        with self._lock:
            if request.headers.get("Authorization"):
                self.served.tokens_seen_by_cdn.append(file)
        wanted = request.headers.get("Range", "")
        if self.faults.ignore_range or not wanted.startswith("bytes="):
            _send_declared(request, content)
            return
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last), content.size - 1)
        if start >= content.size:
            _send(request, 416, b"", "application/octet-stream")
            return
        with self._lock:
            self.served.cdn_ranges.append((file, start, end))
            if end >= len(content.header):
                self.served.data_ranges.append((file, start, end))
        body = content.header[start : end + 1]
        body += b"\0" * (end + 1 - start - len(body))
        request.send_response(206)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Range", f"bytes {start}-{end}/{content.size}")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", kind)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


def _send_error(request: BaseHTTPRequestHandler, status: int, code: str) -> None:
    request.send_response(status)
    request.send_header("X-Error-Code", code)
    body = json.dumps({"error": code}).encode()
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


def _redirect(request: BaseHTTPRequestHandler, location: str) -> None:
    request.send_response(302)
    request.send_header("Location", location)
    request.send_header("Content-Length", "0")
    request.end_headers()


def _send_declared(request: BaseHTTPRequestHandler, content: VirtualFile) -> None:
    """A whole file as a server that ignores Range would send it: its size declared, and as
    much as the client reads."""
    request.send_response(200)
    request.send_header("Content-Type", "application/octet-stream")
    request.send_header("Content-Length", str(content.size))
    request.end_headers()
    with contextlib.suppress(OSError):  # the client hung up on a body it did not want
        request.wfile.write(content.header)
    request.close_connection = True
