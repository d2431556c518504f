"""What the multi-GPU device runs share: child processes pinned to groups of GPUs (NVLink
multicast off in each), a process that holds part of one GPU's memory, and the collector as a
subprocess, read through the plugin's own client.

The scripts beside this one run from the repository root on a GPU host with the collector's
dependencies importable (bench/device/setup.sh) and, for the vLLM parts, vLLM.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from multicast_off import with_multicast_off
from vllm_server import terminate

from gpu_insight.schemas import Snapshot
from gpu_insight.sources.client import CollectorClient, CollectorError

ROOT = Path(__file__).resolve().parents[3]
COLLECTOR_START_TIMEOUT_S = 60.0

# A torch process holding `fraction` of one GPU's memory until it is stopped; it prints a line
# once it holds it. Run it with gpu_env(..., [gpu]): it sees that GPU as its device 0.
HOLDER_CODE = """\
import sys, time, torch
free, total = torch.cuda.mem_get_info(0)
block = torch.empty(int(total * float(sys.argv[1])), dtype=torch.uint8, device="cuda:0")
print(f"holding {block.numel() / 2**20:.0f} MiB of {total / 2**20:.0f} MiB", flush=True)
while True:
    time.sleep(1)
"""


def gpu_env(base: Mapping[str, str], gpus: Sequence[int] | None = None) -> dict[str, str]:
    """`base` with NVLink multicast off and, given `gpus`, only those GPUs visible, numbered
    as NVML numbers them (PCI bus order), so a placement's indices mean the same GPUs."""
    env = with_multicast_off(base)
    if gpus is not None:
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in gpus)
    return env


def holder_command(fraction: float) -> list[str]:
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    return [sys.executable, "-c", HOLDER_CODE, str(fraction)]


def run_recorded(body: Callable[[], dict[str, Any]], result_file: Path) -> dict[str, Any]:
    """The run's result, or the error that ended it as its status (the other parts of a device
    run still report), written to `result_file`."""
    try:
        result = body()
    except Exception as exc:
        result = {"status": f"error: {type(exc).__name__}: {exc}"[:400]}
    result_file.write_text(json.dumps(result, indent=1))
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s:g} s")
        time.sleep(0.5)


class Child:
    """One started process with its output in `log`; stopped by its pid."""

    def __init__(self, command: list[str], log: Path, env: Mapping[str, str]) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_said(self, text: str, timeout_s: float) -> None:
        """Until its output holds `text`; raises when it exits first or the time runs out."""

        def said() -> bool:
            if not self.alive() and text not in self.output():
                raise RuntimeError(f"{self.log.name}: exited: {self.output()[-1500:]}")
            return text in self.output()

        wait_for(said, timeout_s, f"{text!r} in {self.log.name}")

    def stop(self) -> int:
        return terminate(self.process)


class Collector:
    """`python -m gpu_insight.collector` on NVML with `settings` (its YAML keys; JSON is YAML)."""

    def __init__(self, folder: Path, settings: Mapping[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        port = free_port()
        config = folder / "collector.yaml"
        books = {"accounting": {"db_path": str(folder / "usage.sqlite3")}}
        config.write_text(json.dumps({**books, **settings}))
        command = [
            *(sys.executable, "-m", "gpu_insight.collector"),
            *("--config", str(config), "--port", str(port)),
        ]
        env = gpu_env({**os.environ, "GPU_INSIGHT_TOKEN": token})
        self.child = Child(command, folder / "collector.log", env)
        self.url = f"http://127.0.0.1:{port}"
        self.token = token
        self.client = CollectorClient(self.url, token)
        try:
            wait_for(self._sampled, COLLECTOR_START_TIMEOUT_S, "a sample from the collector")
        except BaseException:
            self.child.stop()
            raise

    def _sampled(self) -> bool:
        if not self.child.alive():
            raise RuntimeError(f"the collector exited: {self.child.output()[-2000:]}")
        try:
            return self.client.healthz().last_sample_age_s is not None
        except CollectorError:
            return False

    def snapshot(self) -> Snapshot:
        return self.client.snapshot()

    def stop(self) -> None:
        self.child.stop()
