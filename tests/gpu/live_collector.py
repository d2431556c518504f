"""Helpers for the GPU tests: the driver's own nvidia-smi, and the collector running on NVML."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.collector_process import PLUGIN_ROOT, free_loopback_port

STARTUP_TIMEOUT_S = 30.0
NVIDIA_SMI_TIMEOUT_S = 30.0


def nvidia_smi(*args: str) -> list[list[str]]:
    """Rows of `nvidia-smi <args> --format=csv,noheader,nounits`, split into fields."""
    completed = subprocess.run(
        ["nvidia-smi", *args, "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=NVIDIA_SMI_TIMEOUT_S,
        check=True,
    )
    return [
        [field.strip() for field in line.split(",")]
        for line in completed.stdout.splitlines()
        if line.strip()
    ]


class LiveCollector:
    """`python -m gpu_insight.collector` on NVML, 127.0.0.1, a random token, state in tmp."""

    def __init__(self, state_dir: Path) -> None:
        self.token = secrets.token_urlsafe(24)
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = state_dir / "collector.yaml"
        config.write_text(f"accounting:\n  db_path: {state_dir / 'usage.sqlite3'}\n")
        self._log = (state_dir / "collector.log").open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpu_insight.collector",
                "--config",
                str(config),
                "--port",
                str(self.port),
                "--token",
                self.token,
            ],
            cwd=PLUGIN_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._log_path = state_dir / "collector.log"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(
                    f"the collector exited (rc={self._process.returncode}):\n"
                    + self._log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if self.get("/healthz").get("last_sample_age_s") is not None:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(
            f"the collector published no sample within {STARTUP_TIMEOUT_S:.0f} s:\n"
            + self._log_path.read_text(errors="replace")[-3000:]
        )

    def get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def snapshot_after(self, t: float, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first snapshot collected at or after wall-clock time `t`."""
        deadline = time.monotonic() + timeout_s
        while True:
            snapshot = self.get("/v1/snapshot")
            if snapshot["collected_at"] >= t:
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"no snapshot newer than {t} within {timeout_s} s")
            time.sleep(0.2)

    def wait_for(
        self, find: Callable[[dict[str, Any]], Any], what: str, timeout_s: float = 20.0
    ) -> Any:
        """Polls snapshots until `find(snapshot)` returns something truthy, and returns it."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.get("/v1/snapshot")
            found = find(last)
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(
            f"{what} not seen within {timeout_s:.0f} s; last snapshot's "
            f"processes: {last.get('processes')}, engines: {last.get('engines')}"
        )

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._log.close()


def process_in(snapshot: dict[str, Any], pid: int) -> dict[str, Any] | None:
    return next((p for p in snapshot["processes"] if p["pid"] == pid), None)
