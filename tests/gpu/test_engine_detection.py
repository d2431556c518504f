"""A process started with a vLLM server's command line is recognised as vLLM, with its model.

The process is the vLLM-shaped load generator in bench/load/fake_engines: it holds GPU memory
the way vLLM does and serves vLLM's /metrics, without being vLLM.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gpu.live_collector import LiveCollector, process_in
from tests.support.collector_process import PLUGIN_ROOT, free_loopback_port

pytestmark = pytest.mark.gpu

MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
GPU_MEMORY_UTILIZATION = 0.1
STARTUP_TIMEOUT_S = 120.0
LOAD_DIR = PLUGIN_ROOT / "bench" / "load"


@dataclass
class FakeVllm:
    pid: int
    port: int


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the vLLM-shaped server exited (rc={process.returncode}):\n"
                + log.read_text(errors="replace")[-3000:]
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(
        f"the vLLM-shaped server did not serve within {STARTUP_TIMEOUT_S} s:\n"
        + log.read_text(errors="replace")[-3000:]
    )


@pytest.fixture(scope="module")
def fake_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeVllm]:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is needed by the vLLM-shaped load generator")
    port = free_loopback_port()
    log = tmp_path_factory.mktemp("fake-vllm") / "server.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(LOAD_DIR / "fake_engines"), str(LOAD_DIR), env.get("PYTHONPATH", "")]
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                MODEL,
                "--port",
                str(port),
                "--gpu-memory-utilization",
                str(GPU_MEMORY_UTILIZATION),
                "--max-model-len",
                "8192",
                "--busy-s",
                "0",
                "--duration-s",
                "300",
            ],
            cwd=PLUGIN_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(process, port, log)
        yield FakeVllm(pid=process.pid, port=port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _attribution(collector: LiveCollector, pid: int) -> dict:
    process = collector.wait_for(lambda s: process_in(s, pid), f"GPU process {pid}")
    return process["attribution"]


def test_vllm_command_line_is_detected_as_vllm_with_its_model(
    live_collector: LiveCollector, fake_vllm: FakeVllm
) -> None:
    attribution = _attribution(live_collector, fake_vllm.pid)
    assert (attribution["engine"], attribution["model"]) == ("vllm", MODEL)


def test_vllm_port_is_taken_from_its_command_line(
    live_collector: LiveCollector, fake_vllm: FakeVllm
) -> None:
    assert _attribution(live_collector, fake_vllm.pid)["port"] == fake_vllm.port


def test_detected_vllm_server_is_scraped(
    live_collector: LiveCollector, fake_vllm: FakeVllm
) -> None:
    url = f"http://127.0.0.1:{fake_vllm.port}/metrics"

    def scraped(snapshot: dict) -> dict | None:
        return next((e for e in snapshot["engines"] if e["url"] == url and e["up"]), None)

    engine = live_collector.wait_for(scraped, f"engine metrics from {url}", timeout_s=30)
    assert (engine["engine"], engine["model"], engine["gpu_memory_utilization"]) == (
        "vllm",
        MODEL,
        GPU_MEMORY_UTILIZATION,
    )
