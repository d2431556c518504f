"""Helpers for the GPU tests: the driver's own nvidia-smi, and the collector running on NVML."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.support.collector_process import CollectorProcess

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


class LiveCollector(CollectorProcess):
    """The collector reading NVML on 127.0.0.1 with a random token, books in a temporary folder."""

    def __init__(self) -> None:
        super().__init__(trace=None)

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


def process_in(snapshot: dict[str, Any], pid: int) -> dict[str, Any] | None:
    return next((p for p in snapshot["processes"] if p["pid"] == pid), None)
