"""Each engine's documented metrics format → the numbers GPU Insight uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gpu_insight.collector.engines.exposition import ExpositionError
from gpu_insight.collector.engines.readings import (
    Reading,
    parse_generic,
    parse_llama_cpp,
    parse_ollama_ps,
    parse_ollama_show,
    parse_openai_models,
    parse_sglang,
    parse_tgi,
    parse_vllm,
)

FIXTURES = Path(__file__).parent / "engine_fixtures"
REAL_LLAMA_CPP = "llama.cpp-0c1e57098/metrics.txt"  # llama-server's own /metrics


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_vllm_current_names() -> None:
    reading = parse_vllm(fixture("vllm_after.txt"))
    assert reading.model == "Qwen/Qwen2.5-7B-Instruct"
    assert (reading.requests_running, reading.requests_waiting) == (48.0, 7.0)
    assert reading.kv_cache_usage_ratio == 0.98
    assert reading.preemptions_total == 60.0
    assert reading.requests_total == 1100.0  # summed over finished_reason
    assert (reading.prompt_tokens_total, reading.generation_tokens_total) == (1.05e6, 520000.0)
    assert reading.gpu_memory_utilization == 0.9
    assert reading.ttft is not None and reading.ttft.buckets[-1] == (float("inf"), 1100.0)
    assert reading.e2e is not None and reading.e2e.count == 1100.0


def test_vllm_older_names() -> None:
    reading = parse_vllm(fixture("vllm_v0.txt"))
    assert reading.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert reading.kv_cache_usage_ratio == 0.27  # from vllm:gpu_cache_usage_perc
    assert reading.gpu_memory_utilization == 0.45
    assert (reading.requests_running, reading.requests_waiting) == (3.0, 1.0)
    assert reading.requests_total is None and reading.ttft is None


def test_sglang() -> None:
    reading = parse_sglang(fixture("sglang.txt"))
    assert reading.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert (reading.requests_running, reading.requests_waiting) == (162.0, 2826.0)
    assert reading.kv_cache_usage_ratio == 0.28
    assert reading.generation_tokens_total == 7.557572e6
    assert reading.requests_total == 11228.0  # e2e histogram count when no request counter
    assert reading.ttft is not None and reading.ttft.count == 11008.0


def test_sglang_tensor_parallel_ranks_are_not_double_counted() -> None:
    reading = parse_sglang(fixture("sglang_tp2.txt"))
    assert (reading.requests_running, reading.requests_waiting) == (10.0, 4.0)


def test_tgi_counters_without_total_suffix() -> None:
    reading = parse_tgi(fixture("tgi.txt"))
    assert (reading.requests_running, reading.requests_waiting) == (16.0, 5.0)
    assert reading.requests_total == 400.0
    assert (reading.prompt_tokens_total, reading.generation_tokens_total) == (160000.0, 48000.0)
    assert reading.e2e is not None and reading.e2e.buckets[1] == (1.0, 150.0)
    assert reading.kv_cache_usage_ratio is None


def test_ollama_loaded_models_vram() -> None:
    reading = parse_ollama_ps(fixture("ollama_ps.json"))
    assert reading.loaded_models_vram_mib == {
        "llama3.1:8b": 6654289920 / 2**20,
        "nomic-embed-text:latest": 500.0,
    }
    assert reading.model is None  # two models loaded: no single name


def test_vllm_0_24_kv_pool_prefix_cache_and_queue_time() -> None:
    """A real vLLM 0.24.0 under load (Qwen2.5-1.5B at 0.35 of an H200)."""
    reading = parse_vllm(fixture("vllm-0.24.0/metrics-under-load.txt"))
    assert reading.kv_cache_size_tokens == 1616576  # = num_gpu_blocks 101036 × block_size 16
    assert reading.prefix_caching_enabled is True
    assert (reading.prefix_cache_queries_total, reading.prefix_cache_hits_total) == (1.07264e6, 0.0)
    assert reading.queue_time is not None and reading.queue_time.count == 4182.0
    assert reading.requests_swapped is None  # V1 swaps nothing: it preempts


def test_vllm_without_kv_cache_size_tokens_counts_blocks_times_block_size() -> None:
    assert parse_vllm(fixture("vllm_after.txt")).kv_cache_size_tokens == 27012 * 16


def test_vllm_before_v1_reports_swapped_requests() -> None:
    assert parse_vllm(fixture("vllm_v0.txt")).requests_swapped == 0.0


def test_sglang_kv_pool_cache_hit_rate_retractions_and_queue_time() -> None:
    reading = parse_sglang(fixture("sglang_cache.txt"))
    assert reading.kv_cache_size_tokens == 455723
    assert reading.prefix_cache_hit_ratio == 0.62
    assert reading.preemptions_total == 12.0
    assert reading.queue_time is not None and reading.queue_time.buckets[1] == (0.1, 1200.0)


def test_llama_cpp_slots_busy_and_deferred_are_running_and_waiting() -> None:
    reading = parse_llama_cpp(fixture("llama_cpp.txt"))
    assert (reading.requests_running, reading.requests_waiting) == (4.0, 3.0)


def test_a_real_llama_server_counts_the_tokens_it_served() -> None:
    # prompts of 64, 8,128 and 64 tokens, 16 tokens generated for each
    reading = parse_llama_cpp(fixture(REAL_LLAMA_CPP))
    assert (reading.prompt_tokens_total, reading.generation_tokens_total) == (8256.0, 48.0)


def test_a_real_idle_llama_server_has_no_slot_busy_and_no_request_deferred() -> None:
    reading = parse_llama_cpp(fixture(REAL_LLAMA_CPP))
    assert (reading.requests_running, reading.requests_waiting) == (0.0, 0.0)


def test_a_real_llama_server_reports_no_kv_cache_usage() -> None:
    # llama-server no longer exports llamacpp:kv_cache_usage_ratio
    assert parse_llama_cpp(fixture(REAL_LLAMA_CPP)).kv_cache_usage_ratio is None


def test_ollama_ps_gives_each_models_size_vram_share_context_and_expiry() -> None:
    reading = parse_ollama_ps(fixture("ollama_ps_offload.json"))
    assert reading.loaded_models is not None
    big, small = reading.loaded_models
    assert (big.name, big.context_length, big.quantization_level) == (
        "qwen2.5:32b",
        32768,
        "Q4_K_M",
    )
    assert (big.size_mib, big.vram_mib) == (26943148032 / 2**20, 22548578304 / 2**20)
    assert big.expires_at == 1795167300.0  # 2026-11-20T09:35:00Z
    assert small.vram_mib == small.size_mib


def test_ollama_ps_before_context_length_existed() -> None:
    reading = parse_ollama_ps(fixture("ollama_ps.json"))
    assert reading.loaded_models is not None
    assert [m.context_length for m in reading.loaded_models] == [None, None]


def test_ollama_show_gives_the_gguf_shape() -> None:
    shape = parse_ollama_show(fixture("ollama_show.json"))
    assert shape is not None
    assert (shape.architecture, shape.block_count, shape.head_count, shape.head_count_kv) == (
        "qwen2",
        64,
        40,
        8,
    )
    assert (shape.embedding_length, shape.context_length, shape.key_length) == (5120, 32768, None)
    assert shape.parameter_count == 32763876352


def test_ollama_show_without_an_architecture_has_no_shape() -> None:
    assert parse_ollama_show('{"model_info": {}}') is None


def test_generic_http_requests_total() -> None:
    assert parse_generic(fixture("ocr_service.txt")).requests_total == 1200.0


def test_openai_models_gives_max_model_len() -> None:
    assert parse_openai_models(fixture("vllm_models.json")) == ("Qwen/Qwen2.5-7B-Instruct", 32768)
    assert parse_openai_models('{"data": []}') == (None, None)


@pytest.mark.parametrize(
    "parser", [parse_vllm, parse_sglang, parse_tgi, parse_llama_cpp, parse_generic]
)
def test_garbage_is_an_exposition_error(parser: Callable[[str], Reading]) -> None:
    with pytest.raises(ExpositionError):
        parser("<html>Not Found</html> {")


def test_ollama_garbage_is_an_exposition_error() -> None:
    with pytest.raises(ExpositionError):
        parse_ollama_ps("[1, 2]")
