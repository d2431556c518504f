"""vLLM/SGLang tuning, GPU sharing and scale rules: each fires with its numbers and stays
silent in its healthy neighbour case. Engine readings come from the engines' own exposition
where a fixture has them."""

from __future__ import annotations

from typing import Any

from gpu_insight.advise import Situation
from gpu_insight.advise.sizing import model_fit
from gpu_insight.collector.engines.readings import parse_sglang, parse_vllm
from gpu_insight.schemas import Engine, GpuProcess
from tests.advise_builders import (
    engine,
    fired,
    fixture_text,
    h100,
    latency,
    process,
    situation,
)

# --- prefix-caching ---------------------------------------------------------------------------


def serving_long_prompts(kind: Engine = "vllm", **fields: Any) -> Situation:
    """2,500 prompt tokens per request (a Dify system prompt with retrieved context)."""
    gpu = h100()
    metrics = engine(gpu, kind, prompt_tokens_per_s=2500.0, requests_per_s=1.0, **fields)
    return situation([gpu], engines=[metrics])


def test_prefix_caching_switched_off_is_turned_back_on() -> None:
    [suggestion] = fired(serving_long_prompts(prefix_caching_enabled=False), "prefix-caching")
    assert suggestion.title == (
        "Qwen/Qwen2.5-7B-Instruct: prefix caching is off with 2500 prompt tokens per request"
    )
    assert suggestion.change == "--enable-prefix-caching instead of --no-enable-prefix-caching"


def test_sglang_without_its_radix_cache_is_told_to_drop_the_flag() -> None:
    s = serving_long_prompts("sglang", prefix_caching_enabled=False)
    [suggestion] = fired(s, "prefix-caching")
    assert suggestion.change == "drop --disable-radix-cache"


def test_few_hits_on_long_prompts_point_at_the_system_prompt() -> None:
    # the hit ratio vLLM's counters give over a window: 20,000 of 500,000 prompt tokens
    [suggestion] = fired(serving_long_prompts(prefix_cache_hit_ratio=0.04), "prefix-caching")
    assert suggestion.title == (
        "Qwen/Qwen2.5-7B-Instruct: only 4.0% of 2500 prompt tokens per request come from the "
        "prefix cache"
    )
    assert suggestion.change.startswith("keep each Dify app's system prompt identical and first")


def test_a_cache_that_hits_needs_nothing() -> None:
    reading = parse_sglang(fixture_text("sglang_cache.txt"))  # cache_hit_rate 0.62
    s = serving_long_prompts("sglang", prefix_cache_hit_ratio=reading.prefix_cache_hit_ratio)
    assert fired(s, "prefix-caching") == []


# --- long-prompt-prefill ----------------------------------------------------------------------


def test_long_prompts_that_queue_get_a_larger_prefill_step() -> None:
    s = serving_long_prompts(time_to_first_token=latency(3.1), queue_time=latency(2.4))
    [suggestion] = fired(s, "long-prompt-prefill")
    assert suggestion.title == (
        "Qwen/Qwen2.5-7B-Instruct: prompts of 2500 tokens wait 2.4 s in the queue and 3.1 s for "
        "their first token"
    )
    assert suggestion.change == "--max-num-batched-tokens 16384"  # twice the H100 default
    assert suggestion.evidence["batched_tokens_default"] == 8192


def test_sglang_gets_its_chunked_prefill_size() -> None:
    s = serving_long_prompts("sglang", time_to_first_token=latency(3.1), queue_time=latency(2.4))
    [suggestion] = fired(s, "long-prompt-prefill")
    assert suggestion.change == "--chunked-prefill-size 16384"


def test_long_prompts_that_do_not_queue_need_no_larger_step() -> None:
    s = serving_long_prompts(time_to_first_token=latency(3.1), queue_time=latency(0.1))
    assert fired(s, "long-prompt-prefill") == []


# --- enforce-eager-for-kv ---------------------------------------------------------------------


def kv_full(free_mib: float, cmdline: str = "vllm serve Qwen/Qwen2.5-7B-Instruct") -> Situation:
    gpu = h100(memory_used_mib=81559.0 - free_mib, memory_free_mib=free_mib)
    vllm = process(7, gpu, "vllm", 73000.0, model="Qwen/Qwen2.5-7B-Instruct")
    vllm.cmdline = cmdline
    metrics = engine(
        gpu, preemptions_per_s=0.5, kv_cache_usage_ratio=0.99, requests_waiting=6.0, pids=[7]
    )
    return situation([gpu], [vllm], [metrics])


def test_a_full_kv_cache_with_no_memory_left_trades_cuda_graphs_for_kv() -> None:
    [suggestion] = fired(kv_full(free_mib=300.0), "enforce-eager-for-kv")
    assert suggestion.change == "--enforce-eager"
    # Qwen2.5-7B runs on Model Runner V1: 28 layers × 17 MiB of CUDA graphs = 476 MiB
    assert suggestion.evidence["cuda_graphs_gib"] == 0.5
    assert suggestion.evidence["kv_tokens_gained"] == 476 * 1024 // 56  # ÷ 56 KiB per token


def test_a_full_kv_cache_with_free_memory_grows_its_fraction_instead() -> None:
    assert fired(kv_full(free_mib=20000.0), "enforce-eager-for-kv") == []


def test_an_engine_already_eager_is_left_alone() -> None:
    s = kv_full(free_mib=300.0, cmdline="vllm serve Qwen/Qwen2.5-7B-Instruct --enforce-eager")
    assert fired(s, "enforce-eager-for-kv") == []


# --- moe-experts ------------------------------------------------------------------------------


def planned_moe(
    gpu_count: int, model: str = "Qwen/Qwen3-235B-A22B", kind: Engine = "vllm"
) -> Situation:
    gpus = [h100(i, nvlink_active=True) for i in range(gpu_count)]
    return situation(gpus, planned=True, engine=kind, model=model, fit=model_fit(model))


def test_experts_that_do_not_fit_one_gpu_are_spread_over_four() -> None:
    [suggestion] = fired(planned_moe(8), "moe-experts")
    assert suggestion.change == "--tensor-parallel-size 4 --enable-expert-parallel"
    assert suggestion.evidence["experts"] == 128
    assert suggestion.evidence["expert_parallel_gpus"] == 4


def test_sglang_spreads_experts_with_its_ep_size() -> None:
    [suggestion] = fired(planned_moe(8, kind="sglang"), "moe-experts")
    assert suggestion.change == "--tp-size 4 --ep-size 4"


def test_experts_that_fit_no_set_of_gpus_are_offloaded_to_cpu_memory() -> None:
    [suggestion] = fired(planned_moe(2), "moe-experts")
    assert suggestion.change == f"--cpu-offload-gb {suggestion.evidence['cpu_offload_gib']}"


def test_a_moe_model_that_fits_one_gpu_needs_no_expert_parallel() -> None:
    assert fired(planned_moe(8, model="Qwen/Qwen3-30B-A3B"), "moe-experts") == []


# --- vision-image-budget ----------------------------------------------------------------------


def qwen_vl(cmdline: str) -> Situation:
    gpu = h100()
    vllm = process(7, gpu, "vllm", 60000.0, model="Qwen/Qwen2.5-VL-7B-Instruct")
    vllm.cmdline = cmdline
    metrics = engine(gpu, model="Qwen/Qwen2.5-VL-7B-Instruct", pids=[7])
    return situation([gpu], [vllm], [metrics])


def test_qwen_vl_without_an_image_budget_gets_images_and_pixels_capped() -> None:
    [suggestion] = fired(qwen_vl("vllm serve Qwen/Qwen2.5-VL-7B-Instruct"), "vision-image-budget")
    assert suggestion.change == (
        "--limit-mm-per-prompt '{\"image\": 2}' --mm-processor-kwargs '{\"max_pixels\": 1003520}'"
    )
    assert suggestion.evidence["tokens_per_image_default_max"] == 16384
    assert suggestion.evidence["tokens_per_image_capped"] == 1280


def test_a_planned_vision_model_gets_an_image_budget() -> None:
    s = planned_moe(1, model="google/gemma-3-27b-it")
    [suggestion] = fired(s, "vision-image-budget")
    assert suggestion.change == "--limit-mm-per-prompt '{\"image\": 2}'"


def test_a_vision_model_with_its_budget_set_is_left_alone() -> None:
    cmdline = "vllm serve Qwen/Qwen2.5-VL-7B-Instruct --limit-mm-per-prompt '{\"image\": 4}'"
    assert fired(qwen_vl(cmdline), "vision-image-budget") == []


# --- cuda-mps ---------------------------------------------------------------------------------


def small_servers(extra: list[GpuProcess] | None = None) -> Situation:
    gpu = h100(utilization_percent=20.0, memory_used_mib=17500.0, memory_free_mib=64059.0)
    servers = [
        process(1, gpu, "vllm", 4096.0, model="BAAI/bge-m3", port=8001),
        process(2, gpu, "vllm", 3072.0, model="BAAI/bge-reranker-v2-m3", port=8002),
        process(3, gpu, "vllm", 10240.0, model="Qwen/Qwen2.5-1.5B-Instruct", port=8003),
    ]
    return situation([gpu], servers + (extra or []))


def test_small_model_servers_on_an_idle_gpu_are_put_under_mps() -> None:
    [suggestion] = fired(small_servers(), "cuda-mps")
    assert suggestion.title == (
        "GPU 0 runs 3 small model servers, the largest holding 13% of it, and is 20% busy: run "
        "them under MPS"
    )
    assert suggestion.change.endswith("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=33")


def test_servers_already_under_mps_are_left_alone() -> None:
    gpu = small_servers().gpus[0]
    daemon = process(9, gpu, "unknown", 30.0)
    daemon.name = "nvidia-cuda-mps-server"
    assert fired(small_servers([daemon]), "cuda-mps") == []


# --- autoscale-replicas -----------------------------------------------------------------------


def replicas(waiting: tuple[float, float]) -> Situation:
    gpus = [h100(0, utilization_percent=95.0), h100(1, utilization_percent=92.0)]
    metrics = [
        engine(gpu, port=8000 + gpu.index, requests_waiting=w, requests_per_s=6.0)
        for gpu, w in zip(gpus, waiting, strict=True)
    ]
    return situation(gpus, engines=metrics)


def test_busy_replicas_with_a_queue_get_the_autoscaling_examples() -> None:
    [suggestion] = fired(replicas((12.0, 10.0)), "autoscale-replicas")
    assert suggestion.title == (
        "Qwen/Qwen2.5-7B-Instruct: 22 requests wait on 2 busy replica(s), 11.0 each: scale out "
        "on the queue"
    )
    assert suggestion.change.startswith(
        'scale on gpu_insight_engine_requests_waiting{model="Qwen/Qwen2.5-7B-Instruct"} with 4 '
        "waiting requests per replica: deploy/autoscaling/keda-scaledobject.yaml (KEDA)"
    )
    assert suggestion.evidence["replicas_wanted"] == 6


def test_a_short_queue_needs_no_more_replicas() -> None:
    assert fired(replicas((2.0, 1.0)), "autoscale-replicas") == []


def test_the_vllm_fixture_reads_feed_the_rules_unchanged() -> None:
    """A real vLLM 0.24.0's KV pool and prefix-caching switch arrive as the rules read them."""
    reading = parse_vllm(fixture_text("vllm-0.24.0/metrics-under-load.txt"))
    gpu = h100()
    metrics = engine(
        gpu,
        prefix_caching_enabled=reading.prefix_caching_enabled,
        kv_cache_size_tokens=reading.kv_cache_size_tokens,
        prompt_tokens_per_s=2500.0,
        requests_per_s=1.0,
    )
    assert fired(situation([gpu], engines=[metrics]), "prefix-caching") == []
