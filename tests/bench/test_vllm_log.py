"""bench/engines/vllm_server.parse_log over logs of real vLLM 0.24.0 starts on an H200."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "bench" / "results" / "device-2026-12-01-h200" / "vllm-logs"
sys.path.insert(0, str(ROOT / "bench" / "engines"))
from vllm_server import LogFacts, parse_log  # noqa: E402


def facts(name: str) -> LogFacts:
    return parse_log((LOGS / f"{name}.log").read_text())


def test_model_runner_v2_start_gives_weights_kv_pool_concurrency_and_graphs() -> None:
    log = facts("llama-3.1-8b")
    assert (log.vllm_version, log.model_runner, log.attention_backends) == (
        "0.24.0",
        "v2",
        ["FLASH_ATTN"],
    )
    assert (log.weights_gib, log.available_kv_cache_gib, log.kv_cache_tokens) == (
        15.0,
        109.49,
        896912,
    )
    assert (log.max_concurrency, log.max_concurrency_tokens) == (109.49, 8192)
    assert (log.cuda_graph_gib, log.max_num_batched_tokens) == (0.98, 8192)
    assert log.cuda_graph_budgeted_utilization is None  # V2 keeps graphs out of its budget


def test_model_runner_v1_start_gives_the_graph_memory_it_budgeted() -> None:
    log = facts("qwen3-30b-a3b")
    assert log.model_runner == "v1"
    assert log.cuda_graph_budgeted_utilization == (0.9, 0.8954)


def test_eager_start_has_no_graph_memory() -> None:
    assert facts("llama-3.1-8b-eager").cuda_graph_gib is None


def test_a_start_that_failed_reports_why() -> None:
    log = facts("gemma-3-12b")  # multimodal processing imports blake3, which was not carried
    assert log.kv_cache_tokens is None
    assert any("No module named 'blake3'" in error for error in log.errors)
