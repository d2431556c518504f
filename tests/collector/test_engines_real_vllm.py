"""The engine scraper against what a real vLLM 0.24.0 served on an H200 (2026-12-01).

`engine_fixtures/vllm-0.24.0/`: `metrics.txt`, `version.json` and `models.json` from
Llama-3.1-8B just after start (two completions served), `metrics-under-load.txt` from
Qwen2.5-1.5B while eight clients kept it busy (bench/engine_collector_check.py).
"""

from __future__ import annotations

from pathlib import Path

from gpu_insight.collector.config import EnginesConfig
from gpu_insight.collector.engines import EngineScraper
from gpu_insight.collector.engines.readings import parse_version, parse_vllm
from gpu_insight.schemas import Attribution, GpuProcess
from tests.support.canned_http import CannedReply, CannedServer

REAL = Path(__file__).parent / "engine_fixtures" / "vllm-0.24.0"


def reply(name: str) -> CannedReply:
    return CannedReply(200, (REAL / name).read_bytes(), "text/plain; version=0.0.4")


def test_idle_server_reading_has_its_model_budget_and_kv_pool() -> None:
    reading = parse_vllm((REAL / "metrics.txt").read_text())
    assert reading.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert (reading.gpu_memory_utilization, reading.kv_cache_size_tokens) == (0.9, 896912)
    assert (reading.requests_running, reading.requests_waiting) == (0.0, 0.0)
    assert reading.requests_total == 2.0


def test_busy_server_reading_has_running_requests_tokens_and_latencies() -> None:
    reading = parse_vllm((REAL / "metrics-under-load.txt").read_text())
    assert (reading.requests_running, reading.requests_waiting) == (8.0, 0.0)
    assert reading.requests_total == 4182.0
    assert (reading.prompt_tokens_total, reading.generation_tokens_total) == (1072640.0, 267922.0)
    assert reading.kv_cache_usage_ratio is not None and 0 < reading.kv_cache_usage_ratio < 1
    assert reading.preemptions_total == 0.0
    assert reading.ttft is not None and reading.ttft.count == 4190.0
    assert reading.e2e is not None and reading.e2e.count == 4182.0


def test_version_answer_gives_the_version() -> None:
    assert parse_version((REAL / "version.json").read_text()) == "0.24.0"


def test_scraped_real_vllm_has_version_context_length_and_kv_pool() -> None:
    routes = {
        "/metrics": reply("metrics.txt"),
        "/version": reply("version.json"),
        "/v1/models": reply("models.json"),
    }
    with CannedServer(routes) as server:
        port = int(server.url.rsplit(":", 1)[1])
        scraper = EngineScraper(EnginesConfig())
        scraper.observe(
            [
                GpuProcess(
                    pid=2721,
                    gpu_index=0,
                    gpu_uuid="GPU-0",
                    attribution=Attribution(
                        engine="vllm", model="meta-llama/Llama-3.1-8B-Instruct", port=port
                    ),
                )
            ]
        )
        scraper.scrape_once()
    [metrics] = scraper.latest()
    assert (metrics.up, metrics.engine_version, metrics.max_model_len) == (True, "0.24.0", 8192)
    assert (metrics.model, metrics.kv_cache_size_tokens) == (
        "meta-llama/Llama-3.1-8B-Instruct",
        896912,
    )
