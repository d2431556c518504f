"""Attribution over the process tree a real vLLM 0.24 server showed on an H200 (2026-12-01).

The fixture is what /proc held: the API server (`python3 -m vllm.entrypoints.openai.api_server
--model <folder> --served-model-name <id> …`), its multiprocessing resource tracker, and the
engine core, whose command line is only its title `VLLM::EngineCore` padded with NULs. NVML
listed the engine core alone as the GPU process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpu_insight.collector.attribution import Attributor, ProcessIdentity
from gpu_insight.collector.config import AttributionConfig
from tests.collector.fake_proc import FakeProc

TREE_FILE = Path(__file__).parent / "engine_fixtures" / "vllm-0.24.0" / "process_tree.json"
TREE: dict[str, Any] = json.loads(TREE_FILE.read_text())


@pytest.fixture
def real_vllm_proc(tmp_path: Path) -> FakeProc:
    proc = FakeProc(tmp_path / "proc")
    for process in TREE["processes"]:
        proc.add(process["pid"], process["argv"], comm=process["comm"], ppid=process["ppid"])
        raw = process["cmdline_raw"].encode()  # as read, the title's NUL padding included
        (proc.root / str(process["pid"]) / "cmdline").write_bytes(raw)
    return proc


def describe_gpu_process(proc: FakeProc) -> ProcessIdentity:
    (gpu_pid,) = TREE["gpu_pids"]
    identity = Attributor(AttributionConfig(proc_root=str(proc.root))).describe(gpu_pid)
    assert identity is not None
    return identity


def test_the_gpu_process_is_the_engine_core_child_of_the_api_server() -> None:
    by_pid = {p["pid"]: p for p in TREE["processes"]}
    (gpu_pid,) = TREE["gpu_pids"]
    assert by_pid[gpu_pid]["argv"] == ["VLLM::EngineCore"]
    assert "vllm.entrypoints.openai.api_server" in by_pid[by_pid[gpu_pid]["ppid"]]["argv"]


def test_engine_core_is_vllm_on_its_servers_port(real_vllm_proc: FakeProc) -> None:
    attribution = describe_gpu_process(real_vllm_proc).attribution
    assert (attribution.engine, attribution.port) == ("vllm", 8000)


def test_engine_core_carries_the_served_model_name_and_keeps_the_folder(
    real_vllm_proc: FakeProc,
) -> None:
    attribution = describe_gpu_process(real_vllm_proc).attribution
    assert attribution.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert attribution.model_path == "/opt/models/Llama-3.1-8B-Instruct"


def test_engine_core_shows_its_title_without_the_padding(real_vllm_proc: FakeProc) -> None:
    identity = describe_gpu_process(real_vllm_proc)
    assert (identity.name, identity.cmdline) == ("VLLM::EngineCor", "VLLM::EngineCore")
