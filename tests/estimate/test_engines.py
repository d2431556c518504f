"""Engine rules: vLLM worked examples (research §2.8), bad input, placement, properties."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gpu_insight.engines import ENGINES
from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest, check_fit, estimate
from gpu_insight.estimate.catalog import entries, lookup
from gpu_insight.estimate.kv_cache import KvCacheDtype
from gpu_insight.estimate.plans import GpuTarget, plan
from gpu_insight.estimate.request import Quantization
from gpu_insight.estimate.resolve import settings_for
from gpu_insight.schemas import Gpu, KnownEngine

GIB_MIB = 1024
H100 = GpuTarget("NVIDIA H100 80GB HBM3", 79.18 * 1024, 79.18 * 1024)
L4 = GpuTarget("NVIDIA L4", 22.04 * 1024, 22.04 * 1024)


def kv_pool_gib(
    model: str,
    gpu: GpuTarget,
    quantization: Quantization = "none",
    tp: int = 1,
    util: float = 0.9,
) -> float:
    request = VramRequest(model=model, quantization=quantization, gpu_memory_utilization=util)
    result = plan(settings_for(request, lookup(model).spec(), tp), gpu)
    return next(line.mib for line in result.lines if line.name == "kv_cache_pool") / GIB_MIB


# The worked examples budget the CUDA graphs inside gpu_memory_utilization, as Model Runner V1
# does; vLLM 0.24 serves Llama on Model Runner V2, whose graphs (the examples' 0.4–1.0 GiB) come
# outside the budget and leave that much more to the KV cache.
@pytest.mark.parametrize(
    ("model", "gpu", "quant", "tp", "expected_gib", "graphs_outside_gib"),
    [
        ("meta-llama/Meta-Llama-3-8B-Instruct", H100, "none", 1, 54.3, 0.84),
        ("meta-llama/Meta-Llama-3-8B-Instruct", L4, "none", 1, 4.05, 0.4),
        ("meta-llama/Meta-Llama-3-8B-Instruct", L4, "awq", 1, 13.7, 0.4),
        ("Qwen/Qwen2.5-7B-Instruct", L4, "none", 1, 4.8, 0),
        ("Qwen/Qwen2.5-7B-Instruct", H100, "none", 1, 54.9, 0),
        ("meta-llama/Meta-Llama-3-70B-Instruct", H100, "none", 4, 35.8, 1.0),
        ("meta-llama/Meta-Llama-3-70B-Instruct", H100, "awq", 1, 31.1, 1.0),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", H100, "none", 2, 25.1, 0),
    ],
)
def test_vllm_kv_budget_matches_the_worked_examples(
    model: str,
    gpu: GpuTarget,
    quant: Quantization,
    tp: int,
    expected_gib: float,
    graphs_outside_gib: float,
) -> None:
    expected = expected_gib + graphs_outside_gib
    assert kv_pool_gib(model, gpu, quant, tp) == pytest.approx(expected, abs=1.0)


def test_vllm_startup_fails_when_free_memory_is_below_the_requested_share() -> None:
    request = VramRequest(model="llama3.1:8b", gpu_memory_utilization=0.9)
    busy = GpuTarget("NVIDIA H100", 81_079, 40_000)
    result = plan(settings_for(request, lookup("llama3.1:8b").spec(), 1), busy)
    # vLLM checks what is free once its own CUDA context (522 MiB) exists
    assert result.errors[0].startswith(
        "ValueError: Free memory on device (38.55/79.18 GiB) on "
        "startup is less than desired GPU memory utilization (0.90"
    )


def test_vllm_too_long_a_context_quotes_the_engine_and_its_maximum_length() -> None:
    request = VramRequest(model="llama3.1:8b", context_length=131072, gpu_memory_utilization=0.9)
    result = plan(settings_for(request, lookup("llama3.1:8b").spec(), 1), L4)
    assert "To serve at least one request with the model's max seq len (131072)" in result.errors[0]
    assert "estimated maximum model length is" in result.errors[0]


def test_every_breakdown_figure_adds_up_to_the_need() -> None:
    answer = estimate(VramRequest(model="qwen2.5:7b", engine="transformers", concurrency=4))
    assert sum(line.mib for line in answer.breakdown) == pytest.approx(
        answer.need_mib_per_gpu, abs=1
    )
    assert all(line.formula for line in answer.breakdown)


def gpu(index: int, free_mib: float, host: str = "node-a", cc: str = "9.0") -> Gpu:
    return Gpu(
        index=index,
        uuid=f"GPU-{index}",
        name="NVIDIA H100 80GB HBM3",
        host=host,
        compute_capability=cc,
        memory_total_mib=81_559,
        memory_reserved_mib=480,
        memory_free_mib=free_mib,
        memory_used_mib=81_079 - free_mib,
    )


def test_placement_picks_the_gpu_with_room_and_lowers_util_to_what_is_free() -> None:
    answer = check_fit(
        VramRequest(model="qwen2.5:7b", context_length=32768), [gpu(0, 10_000), gpu(1, 50_000)]
    )
    assert answer.fits and answer.placement is not None
    assert answer.placement.gpu_indices == [1]
    # 50,000 MiB free less the margin and what vLLM holds beyond its fraction (context, graphs)
    assert "--gpu-memory-utilization 0.59" in answer.flags
    assert answer.placement.headroom_mib >= 0
    assert answer.gpus[0].fits_alone is False
    assert answer.gpus[0].verdict.startswith("does not start: ValueError: No available memory")


def test_a_70b_model_is_placed_with_tensor_parallel_on_one_host() -> None:
    answer = check_fit(
        VramRequest(model="llama3.3:70b"),
        [gpu(i, 80_000) for i in range(4)] + [gpu(0, 80_000, host="node-b")],
    )
    assert answer.placement is not None and answer.placement.tensor_parallel == 2
    assert "--tensor-parallel-size 2" in answer.flags


def test_fp8_on_a_turing_gpu_is_reported_unsupported() -> None:
    answer = check_fit(
        VramRequest(model="qwen2.5:0.5b", quantization="fp8"), [gpu(0, 14_000, cc="7.5")]
    )
    assert answer.fits is False
    assert "unsupported" in answer.gpus[0].verdict and "8.9" in answer.gpus[0].verdict


def test_without_live_data_common_gpus_are_listed() -> None:
    answer = estimate(VramRequest(model="llama3.1:8b"))
    fit = {c.name: c.gpus_needed for c in answer.common_gpus}
    assert fit["NVIDIA H100 80GB"] == 1 and fit["NVIDIA T4 16GB"] is None


def test_ollama_reports_partial_offload_when_short_of_memory() -> None:
    answer = check_fit(VramRequest(model="llama3.3:70b", engine="ollama"), [gpu(0, 20_000)])
    assert answer.starts is True and answer.fits is False
    assert answer.gpus[0].verdict.startswith("starts, but serves 0 × 8,192 tokens")
    assert any(note.startswith("partial offload: about ") for note in answer.notes)
    assert answer.process_mib <= 20_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "llama-9000"}, "Closest:"),
        (
            {"model": "qwen2.5:7b", "tensor_parallel": 8},
            "must be divisible by tensor parallel size",
        ),
        (
            {"model": "llama3:8b", "context_length": 9000},
            "context_length: 9,000 exceeds the model's maximum",
        ),
        ({"model": "qwen2.5:7b", "quantization": "q4_k_m"}, "quantization: q4_k_m is a GGUF type"),
        ({"model": "qwen2.5:7b", "engine": "ollama", "quantization": "awq"}, "runs GGUF files"),
        ({"model": "x", "model_config_json": {"hidden_size": 8}}, "model_config: missing field"),
        ({"model": "qwen2.5:7b", "kv_cache_dtype": "q4_0"}, "kv_cache_dtype"),
    ],
)
def test_unanswerable_requests_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        estimate(VramRequest(**kwargs))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": "qwen2.5:7b", "context_length": 0}, "context_length"),
        ({"model": "qwen2.5:7b", "concurrency": -1}, "concurrency"),
        ({"model": "qwen2.5:7b", "concurrency": 10**9}, "concurrency"),
        ({"model": "qwen2.5:7b", "gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"model": "qwen2.5:7b", "tensor_parallel": 0}, "parallel"),
        ({"model_config_json": "{not json"}, "model_config"),
        ({"model": "qwen2.5:7b", "engine": "triton"}, "engine"),
    ],
)
def test_invalid_numbers_and_choices_are_refused_with_the_range(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        VramRequest(**kwargs)


def test_a_pasted_config_wins_over_the_catalog() -> None:
    config = json.dumps(lookup("qwen2.5:0.5b").config)
    answer = estimate(
        VramRequest.model_validate({"model": "my-finetune", "model_config_json": config})
    )
    assert answer.model == "my-finetune" and answer.model_source == "pasted"
    assert answer.parameters_b == pytest.approx(0.494, rel=0.01)


CAUSAL = [e.id for e in entries() if e.kind == "causal" and e.official_params_b < 100]


def need(
    model: str, engine: KnownEngine, context: int, concurrency: int, quant: Quantization = "none"
) -> float:
    return estimate(
        VramRequest(
            model=model,
            engine=engine,
            context_length=context,
            concurrency=concurrency,
            quantization=quant,
        )
    ).need_mib_per_gpu


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(CAUSAL),
    engine=st.sampled_from(ENGINES),
    context=st.integers(1, 8192),
    extra=st.integers(1, 4096),
    concurrency=st.integers(1, 64),
)
def test_more_context_or_concurrency_never_needs_less(
    model: str, engine: KnownEngine, context: int, extra: int, concurrency: int
) -> None:
    # Stay within the model's own maximum: beyond it the request is refused, not estimated.
    max_context = lookup(model).spec().max_position_embeddings
    context = min(context, max_context - 1)
    bigger_context = min(context + extra, max_context)
    base = need(model, engine, context, concurrency)
    assert need(model, engine, bigger_context, concurrency) >= base
    assert need(model, engine, context, concurrency + 1) >= base


CHAINS: list[list[Quantization]] = [
    ["fp32", "bf16", "fp8", "awq"],
    ["fp32", "bf16", "int8", "nf4"],
    ["q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "iq4_xs"],
]


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(CAUSAL), chain=st.sampled_from(CHAINS), context=st.integers(1, 4096))
def test_a_lower_precision_format_never_needs_more(
    model: str, chain: list[Quantization], context: int
) -> None:
    engine: KnownEngine = "llama.cpp" if chain[0].startswith("q") else "vllm"
    needs = [need(model, engine, context, 1, fmt) for fmt in chain]
    assert needs == sorted(needs, reverse=True)


@settings(max_examples=80, deadline=None)
@given(
    model=st.sampled_from([e.id for e in entries()]),
    engine=st.sampled_from(ENGINES),
    quant=st.sampled_from(["none", "bf16", "fp8", "awq", "gptq", "nf4", "q4_k_m", "q8_0"]),
    context=st.integers(-5, 300_000),
    concurrency=st.integers(-2, 5000),
    tp=st.sampled_from(["auto", 1, 2, 3, 4, 8, 16]),
    kv=st.sampled_from(["auto", "fp8", "q8_0"]),
)
def test_no_parameter_combination_raises_anything_but_a_clear_error(
    model: str,
    engine: KnownEngine,
    quant: Quantization,
    context: int,
    concurrency: int,
    tp: int | Literal["auto"],
    kv: KvCacheDtype,
) -> None:
    try:
        request = VramRequest(
            model=model,
            engine=engine,
            quantization=quant,
            context_length=context,
            concurrency=concurrency,
            tensor_parallel=tp,
            kv_cache_dtype=kv,
        )
        answer = check_fit(request, [gpu(0, 60_000), gpu(1, 70_000)])
    except (ValidationError, InputError) as error:
        assert str(error)
        return
    assert answer.required_mib > 0
