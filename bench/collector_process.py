"""The real collector as a subprocess on loopback, optionally CPU-pinned, for the benchmarks.

`python -m gpu_insight.collector` with a fresh token, a free port and its usage books in the
benchmark's state folder; `settings` adds configuration keys (e.g. a replay trace).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api_load import process_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
HEALTH_TIMEOUT_S = 60.0


class CollectorProcess:
    """The collector (NVML at default cadence unless `settings` say otherwise)."""

    def __init__(
        self,
        state_dir: Path,
        name: str,
        cpus: set[int] | None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.token = secrets.token_urlsafe(24)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = state_dir / f"{name}.yaml"
        books = {"accounting": {"db_path": str(state_dir / f"{name}.sqlite3")}}
        config.write_text(json.dumps({**books, **(settings or {})}))  # JSON is YAML
        self.log_path = state_dir / f"{name}.log"
        env = dict(os.environ, GPU_INSIGHT_TOKEN=self.token)
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gpu_insight.collector",
                    "--config",
                    str(config),
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        self.pid = self.process.pid
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        """Until /healthz answers 200 with a sample; a collector that is `down` answers 503."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited: {self._log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if json.load(response).get("last_sample_age_s") is not None:
                        return
            except urllib.error.HTTPError as exc:
                last = f"{exc.code} {exc.read().decode(errors='replace')[:300]}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"collector not healthy in {HEALTH_TIMEOUT_S:g} s; /healthz: {last}")

    def _log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])

    def snapshot(self) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + "/v1/snapshot", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def cpu_use(self, window_s: float, settle_s: float = 5.0) -> dict[str, Any]:
        time.sleep(settle_s)  # past start-up (imports, NVML init, first ticks)
        cpu_before, wall_before = process_cpu_seconds(self.pid), time.monotonic()
        time.sleep(window_s)
        cpu_s = process_cpu_seconds(self.pid) - cpu_before
        wall_s = time.monotonic() - wall_before
        snapshot = self.snapshot()
        return {
            "window_s": round(wall_s, 1),
            "cpu_s": round(cpu_s, 3),
            "cpu_percent_of_one_core": round(100 * cpu_s / wall_s, 3),
            "gpu_processes_seen": len(snapshot["processes"]),
            "engines_seen": [f"{e['engine']} up={e['up']}" for e in snapshot["engines"]],
            "rss_mib": round(rss_bytes(self.pid) / 2**20, 1),
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
