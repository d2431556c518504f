"""A real vLLM server on the GPU (dummy weights): detected, scraped, and its weights estimated.

Skipped where the vllm package is absent. The server is Qwen2.5-0.5B's published config with
random weights (bench/engines/vllm_server.py), 0.2 of the GPU, eager mode to start faster.
vLLM 0.24 needs VLLM_USE_FLASHINFER_SAMPLER=0 where FlashInfer is missing (the helper sets it).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from gpu_insight.answers.vram import answer_vram, parse_vram_request
from tests.gpu.live_collector import LiveCollector, process_in
from tests.support.collector_process import PLUGIN_ROOT, free_loopback_port
from tests.support.processes import terminate

pytestmark = pytest.mark.gpu

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
MAX_MODEL_LEN = 4096
GPU_MEMORY_UTILIZATION = 0.2
STARTUP_TIMEOUT_S = 420.0
SERVER = PLUGIN_ROOT / "bench" / "engines" / "vllm_server.py"
MODELS = json.loads((PLUGIN_ROOT / "bench" / "engines" / "models.json").read_text())["models"]


@dataclass
class RealVllm:
    pid: int
    port: int
    log: Path


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def real_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealVllm]:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("the vllm package is not installed")
    folder = tmp_path_factory.mktemp("real-vllm")
    port = free_loopback_port()
    log = folder / "server.log"
    command = [
        sys.executable,
        str(SERVER),
        MODEL,
        str(folder / "model"),
        str(port),
        str(MAX_MODEL_LEN),
        str(GPU_MEMORY_UTILIZATION),
        "--enforce-eager",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=PLUGIN_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _serving(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"vLLM did not serve (rc={process.poll()}):\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(1.0)
        yield RealVllm(pid=process.pid, port=port, log=log)
    finally:
        terminate(process, timeout_s=30.0)


def _engine_core(collector: LiveCollector, server: RealVllm) -> dict:
    """The GPU process of the server: its engine core child, not the API server itself."""

    def found(snapshot: dict) -> dict | None:
        return next(
            (
                p
                for p in snapshot["processes"]
                if p["attribution"]["engine"] == "vllm"
                and p["attribution"].get("port") == server.port
            ),
            None,
        )

    return collector.wait_for(found, f"a vLLM GPU process on port {server.port}", timeout_s=30)


def test_real_vllm_engine_core_is_detected_with_served_name_and_port(
    live_collector: LiveCollector, real_vllm: RealVllm
) -> None:
    process = _engine_core(live_collector, real_vllm)
    assert process["pid"] != real_vllm.pid  # the API server holds no GPU memory
    assert process_in(live_collector.get("/v1/snapshot"), real_vllm.pid) is None
    assert process["attribution"]["model"] == MODEL
    assert process["attribution"]["model_path"].endswith("/model")


def test_real_vllm_is_scraped_with_its_version_and_kv_pool(
    live_collector: LiveCollector, real_vllm: RealVllm
) -> None:
    url = f"http://127.0.0.1:{real_vllm.port}/metrics"

    def scraped(snapshot: dict) -> dict | None:
        return next((e for e in snapshot["engines"] if e["url"] == url and e["up"]), None)

    engine = live_collector.wait_for(scraped, f"engine metrics from {url}", timeout_s=30)
    assert (engine["model"], engine["engine_version"]) == (MODEL, metadata.version("vllm"))
    assert (engine["gpu_memory_utilization"], engine["max_model_len"]) == (
        GPU_MEMORY_UTILIZATION,
        MAX_MODEL_LEN,
    )
    assert engine["kv_cache_size_tokens"] > 0


def test_estimated_weights_match_what_vllm_loaded(real_vllm: RealVllm) -> None:
    loaded = re.search(r"Model loading took ([0-9.]+) GiB", real_vllm.log.read_text())
    assert loaded is not None, "vLLM printed no 'Model loading took' line"
    measured_mib = float(loaded.group(1)) * 1024
    request = parse_vram_request(
        {"model_config": MODELS[MODEL]["config"], "engine": "vllm", "context_length": MAX_MODEL_LEN}
    )
    estimate = answer_vram(request, None).estimate
    # vLLM rounds to 0.01 GiB and counts ~10 MiB of buffers beyond the parameters here
    assert estimate.weights_mib == pytest.approx(measured_mib, abs=16.0)
