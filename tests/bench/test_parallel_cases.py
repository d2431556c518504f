"""bench/engine_validation.py's tensor- and pipeline-parallel vLLM cases, checked without a GPU:
their flags, their models, the NVML reading over every GPU, the per-worker log lines, and the
NVLink-multicast settings every server and shell gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_insight.estimate.parallel import valid_tp_sizes
from gpu_insight.estimate.spec import from_hf_config
from tests.fake_nvml import MIB, FakeGpu, FakeNvml, FakeProcess

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import engine_validation  # noqa: E402
from dummy_model import published  # noqa: E402
from multicast_off import MULTICAST_OFF, missing, require, with_multicast_off  # noqa: E402
from vllm_server import ENVIRONMENT, parse_log, server_command, worker_logs  # noqa: E402

PARALLEL = [case for case in engine_validation.CASES if case.gpus > 1]
BY_NAME = {case.name: case for case in engine_validation.CASES}

# Lines as vLLM 0.24 writes them at TP 2 (each process prefixes its own).
TP2_LOG = """\
(APIServer pid=100) INFO 12-02 10:00:00 [api_utils.py:273] non-default args: {...}
(EngineCore pid=200) INFO 12-02 10:00:20 [core.py:114] Initializing a V1 LLM engine (v0.24.0)
(Worker_TP0 pid=300) INFO 12-02 10:00:30 [pynccl.py:111] vLLM is using nccl==2.27.7
(Worker_TP1 pid=301) WARNING 12-02 10:00:31 [custom_all_reduce.py:92] Custom allreduce is \
disabled because your platform lacks GPU P2P capability or P2P test failed. To silence this \
warning, specify disable_custom_all_reduce=True explicitly.
(Worker_TP0 pid=300) INFO 12-02 10:00:40 [model_runner.py:302] Model loading took 7.51 GiB and \
2.1 seconds
(Worker_TP1 pid=301) INFO 12-02 10:00:40 [model_runner.py:302] Model loading took 7.52 GiB and \
2.2 seconds
(Worker_TP0 pid=300) INFO 12-02 10:01:00 [gpu_worker.py:508] Available KV cache memory: 116.8 GiB
(Worker_TP1 pid=301) INFO 12-02 10:01:00 [gpu_worker.py:508] Available KV cache memory: 116.7 GiB
(EngineCore pid=200) INFO 12-02 10:01:01 [kv_cache_utils.py:2146] GPU KV cache size: 1,912,000 \
tokens
"""


def test_parallel_cases_use_the_registrys_flags() -> None:
    assert BY_NAME["llama-3.1-70b-tp4"].parallel_args() == ("--tensor-parallel-size", "4")
    assert BY_NAME["llama-3.1-70b-pp2"].parallel_args() == ("--pipeline-parallel-size", "2")
    assert BY_NAME["llama-3.1-8b"].parallel_args() == ()


def test_the_cases_cover_tp_2_4_and_8_two_shapes_and_one_pipeline_case() -> None:
    tensor = {(case.model_id, case.tensor_parallel) for case in PARALLEL}
    assert {2, 4, 8} <= {tp for model, tp in tensor if model == engine_validation.LLAMA_70B}
    assert ("Qwen/Qwen2.5-72B-Instruct", 4) in tensor
    assert [case.pipeline_parallel for case in PARALLEL if case.pipeline_parallel > 1] == [2]


@pytest.mark.parametrize("case", PARALLEL, ids=lambda case: case.name)
def test_each_parallel_case_has_a_published_config_whose_heads_split_evenly(
    case: engine_validation.Case,
) -> None:
    spec = from_hf_config(published(case.model_id)["config"])
    assert case.tensor_parallel in valid_tp_sizes(spec, 8)
    assert spec.num_layers % case.pipeline_parallel == 0


def test_a_parallel_server_command_carries_its_parallel_flags() -> None:
    case = BY_NAME["llama-3.1-70b-tp8"]
    command = server_command(
        Path("/models/x"), case.model_id, 8000, 8192, 0.9, case.parallel_args()
    )
    assert command[-2:] == ["--tensor-parallel-size", "8"]
    assert command[command.index("--max-model-len") + 1] == "8192"


def test_a_server_command_without_settings_leaves_them_to_the_extra_flags() -> None:
    command = server_command(Path("/m"), "org/m", 8000, None, None, ("--max-model-len", "4096"))
    assert command.count("--max-model-len") == 1
    assert "--gpu-memory-utilization" not in command


def test_worker_lines_are_split_by_worker_and_each_parsed() -> None:
    workers = worker_logs(TP2_LOG)
    assert list(workers) == ["Worker_TP0", "Worker_TP1"]
    facts = {name: parse_log(lines) for name, lines in workers.items()}
    assert (facts["Worker_TP0"].weights_gib, facts["Worker_TP1"].weights_gib) == (7.51, 7.52)
    assert facts["Worker_TP1"].available_kv_cache_gib == 116.7
    assert facts["Worker_TP0"].kv_cache_tokens is None  # the engine core logs the pool


def test_the_log_says_which_nccl_ran_and_why_custom_all_reduce_did_not() -> None:
    facts = parse_log(TP2_LOG)
    assert facts.nccl_version == "2.27.7"
    assert facts.custom_allreduce_refusals == [
        "Custom allreduce is disabled because your platform lacks GPU P2P capability or P2P "
        "test failed"
    ]
    assert facts.kv_cache_tokens == 1_912_000


@pytest.fixture
def eight_gpus(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml([FakeGpu(uuid=f"GPU-{i}", used_bytes=0) for i in range(8)])
    for rank in range(4):
        fake.gpus[rank].processes = [FakeProcess(300 + rank, (70_000 + rank) * MIB)]
        fake.gpus[rank].used_bytes = (70_000 + rank) * MIB
    fake.gpus[0].processes.append(FakeProcess(200, 500 * MIB))  # the engine core's context
    monkeypatch.setattr(engine_validation, "pynvml", fake)
    return fake


def test_nvml_reads_every_gpu_of_the_host(eight_gpus: FakeNvml) -> None:
    nvml = engine_validation.Nvml()
    assert nvml.count == 8
    assert nvml.used_by_gpu_mib()[:5] == [70_000, 70_001, 70_002, 70_003, 0]
    assert nvml.device_used_mib() == sum(70_000 + rank for rank in range(4))
    assert nvml.processes_by_gpu()[0] == {300: 70_000, 200: 500}
    assert nvml.host()["gpu_count"] == 8


def test_a_case_needing_more_gpus_than_the_host_has_is_skipped_unstarted(
    eight_gpus: FakeNvml, tmp_path: Path
) -> None:
    eight_gpus.gpus = eight_gpus.gpus[:2]
    result = engine_validation.run_case(
        BY_NAME["llama-3.1-70b-tp4"], engine_validation.Nvml(), tmp_path, tmp_path
    )
    assert result["status"] == "skipped: needs 4 GPUs, the host has 2"
    assert not any(tmp_path.iterdir())  # no model folder written, no server log


def test_every_vllm_server_keeps_nvlink_multicast_off() -> None:
    assert MULTICAST_OFF.items() <= ENVIRONMENT.items()
    assert MULTICAST_OFF["NCCL_NVLS_ENABLE"] == "0"


def test_missing_multicast_settings_are_named_and_stop_the_run() -> None:
    partial = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "0"}
    assert "TORCH_SYMM_MEM_DISABLE_MULTICAST=1" in missing(partial)
    assert "NCCL_NVLS_ENABLE=0" not in missing(partial)
    with pytest.raises(SystemExit, match="NVSHMEM_DISABLE_NVLS=1"):
        require(partial)
    require(with_multicast_off(partial))


def test_a_shell_that_evals_the_exports_has_every_setting() -> None:
    script = f'eval "$({sys.executable} bench/engines/multicast_off.py)"; env'
    env = {"PATH": os.environ["PATH"]}
    shown = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert {f"{name}={value}" for name, value in MULTICAST_OFF.items()} <= set(shown)
