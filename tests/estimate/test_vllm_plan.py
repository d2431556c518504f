"""The vLLM plan's rules, as vLLM 0.24 allocates: its budget, KV blocks and reported tokens, and
what the process holds outside the budget."""

from __future__ import annotations

import pytest

from gpu_insight.engines.vllm import HYBRID_GROUP_SPREAD, KV_BLOCK_SIZE
from gpu_insight.estimate import VramRequest
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.kv_cache import kv_layout, paged_kv
from gpu_insight.estimate.overheads import MIB, VLLM_CUDA_CONTEXT_MIB
from gpu_insight.estimate.plans import GpuTarget, Plan, plan
from gpu_insight.estimate.resolve import settings_for

H200 = GpuTarget("NVIDIA H200", 143_155.9, 143_155.9)


def vllm_plan(
    model: str, gpu: GpuTarget = H200, context_length: int = 8192, enforce_eager: bool = False
) -> Plan:
    asked = VramRequest(
        model=model,
        engine="vllm",
        context_length=context_length,
        gpu_memory_utilization=0.9,
        enforce_eager=enforce_eager,
    )
    return plan(settings_for(asked, lookup(model).spec(), 1), gpu)


def mib(result: Plan, name: str) -> float:
    return sum(line.mib for line in result.lines if line.name == name)


def test_the_breakdown_adds_up_to_the_process_memory() -> None:
    result = vllm_plan("meta-llama/Llama-3.1-8B-Instruct", context_length=8192)
    assert result.holds_mib == pytest.approx(sum(line.mib for line in result.lines), abs=1)


def test_the_reported_kv_tokens_are_max_concurrency_times_max_model_len() -> None:
    result = vllm_plan("meta-llama/Llama-3.1-8B-Instruct", context_length=8192)
    assert result.kv_cache_tokens // 8192 == result.max_concurrency


def test_a_full_attention_pool_reports_its_blocks_times_the_block_size() -> None:
    result = vllm_plan("meta-llama/Llama-3.1-8B-Instruct", context_length=8192)
    blocks = mib(result, "kv_cache_pool") * MIB / (KV_BLOCK_SIZE * 32 * 2 * 8 * 128 * 2)
    assert result.kv_cache_tokens == pytest.approx(blocks * KV_BLOCK_SIZE, abs=KV_BLOCK_SIZE)


def test_a_sliding_window_counts_only_the_blocks_its_window_and_one_chunk_span() -> None:
    result = vllm_plan("mistralai/Mistral-7B-v0.1", context_length=16384)
    block_bytes = KV_BLOCK_SIZE * 32 * 2 * 8 * 128 * 2
    blocks = round(mib(result, "kv_cache_pool") * MIB / block_bytes)
    # 4,095 window tokens + one 8,192-token chunk: 768 blocks, +1 for an unaligned window
    assert result.kv_cache_tokens == int(blocks / 769 * 16384)


def test_local_and_global_layers_share_block_slots_in_groups_of_the_smaller_count() -> None:
    spec = lookup("google/gemma-3-27b-it").spec()
    paged = paged_kv(kv_layout(spec, 2.0), KV_BLOCK_SIZE, HYBRID_GROUP_SPREAD)
    assert (spec.full_layers, spec.sliding_layers) == (10, 52)
    assert (paged.group_layers, paged.full_groups, paged.sliding_groups) == (10, 1, 6)


def test_model_runner_v2_captures_its_graphs_outside_the_kv_budget() -> None:
    compiled = vllm_plan("meta-llama/Llama-3.1-8B-Instruct", context_length=8192)
    eager = vllm_plan("meta-llama/Llama-3.1-8B-Instruct", context_length=8192, enforce_eager=True)
    extra_non_torch = mib(compiled, "non_torch") - mib(eager, "non_torch")
    pool_lost = mib(eager, "kv_cache_pool") - mib(compiled, "kv_cache_pool")
    assert pool_lost == pytest.approx(extra_non_torch, abs=2)
    assert mib(compiled, "cuda_graphs") > 0
    assert mib(eager, "cuda_graphs") == 0


def test_model_runner_v1_takes_its_graph_estimate_from_the_kv_budget() -> None:
    compiled = vllm_plan("Qwen/Qwen2.5-7B-Instruct", context_length=8192)
    eager = vllm_plan("Qwen/Qwen2.5-7B-Instruct", context_length=8192, enforce_eager=True)
    pool_lost = mib(eager, "kv_cache_pool") - mib(compiled, "kv_cache_pool")
    assert 0 < pool_lost < mib(compiled, "cuda_graphs")


def test_the_engine_core_holds_its_context_outside_the_requested_share() -> None:
    result = vllm_plan("Qwen/Qwen2.5-0.5B-Instruct", context_length=4096)
    requested = 0.9 * H200.total_mib
    assert mib(result, "cuda_context") == VLLM_CUDA_CONTEXT_MIB
    assert result.holds_mib > requested + VLLM_CUDA_CONTEXT_MIB


@pytest.mark.parametrize(("spare_mib", "refused"), [(-1, True), (1, False)])
def test_vllm_refuses_to_start_when_free_memory_after_its_context_is_below_its_share(
    spare_mib: float, refused: bool
) -> None:
    free = 0.9 * H200.total_mib + VLLM_CUDA_CONTEXT_MIB + spare_mib
    result = vllm_plan("Qwen/Qwen2.5-0.5B-Instruct", GpuTarget("NVIDIA H200", H200.total_mib, free))
    assert any(e.startswith("ValueError: Free memory on device") for e in result.errors) is refused
