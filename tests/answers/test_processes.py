"""gpu_processes rows say when an engine's reservation, not a leak, fills the GPU."""

from __future__ import annotations

from gpu_insight.answers.processes import answer_processes, parse_process_query
from gpu_insight.sources.fleet import Gathered
from tests.advise_builders import engine, h100, process, situation


def rows(vllm_reserves: bool) -> list[dict]:
    gpu = h100(memory_used_mib=74700.0, memory_free_mib=6859.0)
    holder = process(7, gpu, "vllm" if vllm_reserves else "transformers", 73728.0, port=8000)
    holder.reserved_by_engine = vllm_reserves
    metrics = engine(gpu, pids=[7], gpu_memory_utilization=0.9, kv_cache_usage_ratio=0.12)
    snapshot = situation([gpu], [holder], [metrics]).snapshot
    answer = answer_processes(parse_process_query({}), Gathered(snapshot))
    return answer.as_json()["consumers"]


def test_a_vllm_process_holding_90_percent_is_marked_reserved_and_not_a_leak() -> None:
    [row] = rows(vllm_reserves=True)
    assert row["reserved_by_engine"] is True
    assert row["memory_note"] == (
        "not a leak: vLLM reserves 0.9 × 79.6 GiB = 71.7 GiB up front by design; its KV pool "
        "is 12% in use"
    )


def test_a_script_holding_as_much_gets_no_such_note() -> None:
    [row] = rows(vllm_reserves=False)
    assert row["reserved_by_engine"] is False
    assert "memory_note" not in row
