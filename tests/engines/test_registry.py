"""The engine registry: one entry per known engine, read by the estimator, the collector's
process attribution and the request checks."""

from __future__ import annotations

import pytest
import yaml

from gpu_insight.collector.attribution.commandline import EngineGuess, default_port, detect_engine
from gpu_insight.engines import ENGINES, REGISTRY, Launch, engine, flag
from gpu_insight.engines.vllm import (
    LARGE_GPU_SCHEDULER,
    SMALL_GPU_SCHEDULER,
    SchedulerDefaults,
    model_runner,
    scheduler_defaults,
)
from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest, estimate
from gpu_insight.estimate.kv_cache import KvCacheDtype
from gpu_insight.estimate.plans import PLANNERS
from gpu_insight.schemas import KnownEngine
from tests.support.plugin_runtime import PLUGIN_ROOT


def test_every_known_engine_has_an_entry_and_a_memory_plan() -> None:
    assert tuple(REGISTRY) == ENGINES
    assert set(PLANNERS) == set(ENGINES)


@pytest.mark.parametrize("name", [e for e in ENGINES if REGISTRY[e].default_port])
def test_the_collector_recognises_the_start_the_registry_suggests(name: KnownEngine) -> None:
    served = engine(name)
    argv = served.launch_command("org/model", port=9123).split()
    guess = detect_engine(argv)
    assert guess.engine == name and not guess.is_worker
    if served.starts[0].model_positional or served.starts[0].model_options:
        assert guess.model == "org/model"
    if served.port_options:
        assert guess.port == 9123


@pytest.mark.parametrize("name", ENGINES)
def test_worker_titles_are_attributed_to_their_engine(name: KnownEngine) -> None:
    for title in engine(name).worker_titles:
        assert detect_engine([title + "Worker_TP0"]) == EngineGuess(name, is_worker=True)


def test_default_ports_come_from_the_registry_and_the_tgi_image_listens_on_80() -> None:
    assert default_port("vllm", in_container=True) == 8000
    assert default_port("tgi", in_container=False) == 3000
    assert default_port("tgi", in_container=True) == 80
    assert default_port("unknown", in_container=False) is None


def test_advice_without_an_engine_uses_the_default_engine_and_unknown_engines_get_none() -> None:
    assert flag(None, "max_context", 2048) == "--max-model-len 2048"
    assert flag("unknown", "max_context", 2048) is None
    assert flag("transformers", "max_context", 2048) is None


def test_tgi_is_given_a_prompt_limit_below_its_total_limit() -> None:
    assert engine("tgi").flag("max_context", 8192) == (
        "--max-input-tokens 8191 --max-total-tokens 8192"
    )


def test_llama_cpp_context_counts_every_parallel_slot() -> None:
    flags = engine("llama.cpp").command_flags(Launch(context_length=4096, sequences=4))
    assert flags[:2] == ["--ctx-size 16384", "--parallel 4"]


def test_a_checkpoint_already_quantized_needs_no_quantization_flag() -> None:
    launch = Launch(context_length=4096, quantization="awq", checkpoint_quantization="awq")
    assert not any("--quantization" in f for f in engine("vllm").command_flags(launch))


@pytest.mark.parametrize(
    ("name", "kv", "accepted"),
    [
        ("ollama", "fp8", "auto, bf16, fp16, fp32, q8_0, q4_0"),
        ("vllm", "q4_0", "auto, bf16, fp16, fp32, fp8"),
        ("transformers", "fp8", "auto, bf16, fp16, fp32"),
    ],
)
def test_a_kv_cache_type_the_engine_lacks_is_refused_with_what_it_has(
    name: KnownEngine, kv: KvCacheDtype, accepted: str
) -> None:
    request = VramRequest(model="qwen2.5:7b", engine=name, kv_cache_dtype=kv)
    with pytest.raises(InputError, match=f"^kv_cache_dtype: {name} has no {kv} KV cache; "):
        estimate(request)
    with pytest.raises(InputError, match=f"accepted: {accepted}$"):
        estimate(request)


@pytest.mark.parametrize(
    ("gpu_name", "total_mib", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", 81_559, LARGE_GPU_SCHEDULER),
        ("NVIDIA A100-SXM4-80GB", 81_920, SMALL_GPU_SCHEDULER),
        ("NVIDIA L4", 23_034, SMALL_GPU_SCHEDULER),
        (None, None, LARGE_GPU_SCHEDULER),
    ],
)
def test_vllm_profiles_with_large_gpu_defaults_from_70_gib_except_on_a100(
    gpu_name: KnownEngine | None, total_mib: float | None, expected: object
) -> None:
    assert scheduler_defaults(gpu_name, total_mib) == expected


@pytest.mark.parametrize(
    ("model_type", "runner"),
    [("llama", "v2"), ("qwen3", "v2"), ("qwen2", "v1"), ("qwen3_moe", "v1"), ("gemma3_text", "v1")],
)
def test_vllm_picks_model_runner_v2_only_for_its_default_architectures(
    model_type: str, runner: str
) -> None:
    assert model_runner(model_type) == runner


@pytest.mark.parametrize(("batched", "seqs", "rows"), [(8192, 1024, 1024), (512, 1024, 512)])
def test_vllm_profiles_one_sampled_row_per_dummy_request(
    batched: int, seqs: int, rows: int
) -> None:
    assert SchedulerDefaults(batched, seqs).profiled_sequences == rows


@pytest.mark.parametrize("tool", ["vram_check", "serving_advice"])
def test_the_tools_offer_exactly_the_registry_engines(tool: str) -> None:
    manifest = yaml.safe_load((PLUGIN_ROOT / "tools" / f"{tool}.yaml").read_text())
    [parameter] = [p for p in manifest["parameters"] if p["name"] == "engine"]
    assert sorted(o["value"] for o in parameter["options"]) == sorted(ENGINES)
