"""Each engine's documented metrics format → the numbers GPU Insight uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gpu_insight.collector.engines.exposition import ExpositionError
from gpu_insight.collector.engines.readings import (
    Reading,
    parse_generic,
    parse_ollama_ps,
    parse_openai_models,
    parse_sglang,
    parse_tgi,
    parse_vllm,
)

FIXTURES = Path(__file__).parent / "engine_fixtures"


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


def test_generic_http_requests_total() -> None:
    assert parse_generic(fixture("ocr_service.txt")).requests_total == 1200.0


def test_openai_models_gives_max_model_len() -> None:
    assert parse_openai_models(fixture("vllm_models.json")) == ("Qwen/Qwen2.5-7B-Instruct", 32768)
    assert parse_openai_models('{"data": []}') == (None, None)


@pytest.mark.parametrize("parser", [parse_vllm, parse_sglang, parse_tgi, parse_generic])
def test_garbage_is_an_exposition_error(parser: Callable[[str], Reading]) -> None:
    with pytest.raises(ExpositionError):
        parser("<html>Not Found</html> {")


def test_ollama_garbage_is_an_exposition_error() -> None:
    with pytest.raises(ExpositionError):
        parse_ollama_ps("[1, 2]")
