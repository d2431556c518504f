"""A real Prometheus (Debian's package) on loopback, with a generated configuration."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.collector_process import free_loopback_port
from tests.support.processes import terminate

PROMETHEUS = shutil.which("prometheus")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class PrometheusServer:
    """`prometheus` with `config` (a prometheus.yml as a dict) and, when `users` maps names to
    bcrypt hashes, basic auth on every endpoint (its web config). `url` carries no
    credentials; `query` sends those of `auth` when given."""

    def __init__(
        self,
        config: dict[str, Any],
        folder: Path,
        users: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        if PROMETHEUS is None:
            raise RuntimeError(
                "the prometheus server is not installed (apt-get install prometheus)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.config_file = folder / "prometheus.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self._web_args = []
        if users:
            web = folder / "web.yaml"
            web.write_text(yaml.safe_dump({"basic_auth_users": users}))
            self._web_args = [f"--web.config.file={web}"]
        self._auth = auth
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusServer:
        log = (self.folder / "prometheus.log").open("wb")
        assert PROMETHEUS is not None
        self._process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                *self._web_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_for(self._ready, READY_TIMEOUT_S, "Prometheus to be ready")
        return self

    def stop(self) -> None:
        terminate(self._process, STOP_TIMEOUT_S)

    @property
    def pid(self) -> int:
        """The server process's id (a benchmark reads its CPU time)."""
        if self._process is None:
            raise RuntimeError("Prometheus was not started")
        return self._process.pid

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        request = urllib.request.Request(url)
        if self._auth is not None:
            pair = base64.b64encode(":".join(self._auth).encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query", {"query": promql})
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, condition: Any, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                log = (self.folder / "prometheus.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"prometheus exited ({self._process.returncode}):\n{log}")
            try:
                result = condition()
            except (OSError, urllib.error.URLError):
                result = None
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")

    def _ready(self) -> bool:
        return self.get("/api/v1/status/buildinfo")["status"] == "success"
