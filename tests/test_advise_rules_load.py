"""Memory an engine reserved on purpose ("not a leak") and slow requests on an idle GPU: each
rule fires with its numbers and stays silent in its neighbour case."""

from __future__ import annotations

from gpu_insight.advise import Situation
from gpu_insight.advise.reservation import reservation
from tests.advise_builders import (
    engine,
    fired,
    h100,
    latency,
    memory_alert,
    process,
    situation,
)


def vllm_holding_90_percent(alerted: bool = True, kv_usage: float = 0.12) -> Situation:
    """vLLM at its default 0.9 on an H100 serving a 7B model: 72 GiB held, a 1 M-token KV
    pool 12 % in use."""
    gpu = h100(memory_used_mib=74700.0, memory_free_mib=6859.0, utilization_percent=20.0)
    vllm = process(7, gpu, "vllm", 73728.0, model="Qwen/Qwen2.5-7B-Instruct", port=8000)
    vllm.reserved_by_engine = True
    metrics = engine(
        gpu,
        pids=[7],
        gpu_memory_utilization=0.9,
        kv_cache_usage_ratio=kv_usage,
        kv_cache_size_tokens=1_000_000,
    )
    alerts = [memory_alert(gpu)] if alerted else []
    return situation([gpu], [vllm], [metrics], alerts)


# --- engine-reserved-memory -------------------------------------------------------------------


def test_a_memory_alert_on_a_gpu_vllm_reserved_says_it_is_no_leak() -> None:
    [suggestion] = fired(vllm_holding_90_percent(), "engine-reserved-memory")
    assert suggestion.title == (
        "GPU 0 is 90% full because vLLM (pid 7) reserved it: not a leak: vLLM reserves 0.9 × "
        "79.6 GiB = 71.7 GiB up front by design; its KV pool is 12% in use"
    )
    assert suggestion.change == (
        "nothing leaks; to give memory back to other processes: --gpu-memory-utilization 0.40"
    )
    # weights and the rest 18.6 GiB, twice the 6.4 GiB of KV in use: 31.4 of 79.6 GiB
    assert suggestion.evidence["fraction_that_keeps_twice_the_pool_in_use"] == 0.4


def test_a_busy_pool_is_not_told_to_shrink() -> None:
    [suggestion] = fired(vllm_holding_90_percent(kv_usage=0.8), "engine-reserved-memory")
    assert suggestion.change.endswith("only if another process needs the memory")


def test_without_a_memory_alert_the_reservation_needs_no_advice() -> None:
    assert fired(vllm_holding_90_percent(alerted=False), "engine-reserved-memory") == []


def test_a_script_filling_the_gpu_is_no_reservation() -> None:
    s = vllm_holding_90_percent()
    script = s.snapshot.processes[0].model_copy(update={"reserved_by_engine": False})
    script.attribution.engine = "transformers"
    assert reservation(script, s.gpus[0], s.snapshot.engines) is None


# --- slow-but-gpu-idle ------------------------------------------------------------------------


def in_flight_on_an_idle_gpu(ttft_s: float, queue_s: float, busy: float = 12.0) -> Situation:
    gpu = h100(utilization_percent=busy)
    metrics = engine(
        gpu,
        requests_running=1.0,
        requests_waiting=0.0,
        requests_per_s=0.5,
        time_to_first_token=latency(ttft_s),
        queue_time=latency(queue_s),
    )
    return situation([gpu], engines=[metrics])


def test_one_request_at_a_time_on_an_idle_gpu_points_at_dify() -> None:
    [suggestion] = fired(in_flight_on_an_idle_gpu(0.3, 0.01), "slow-but-gpu-idle")
    assert suggestion.title == (
        "Qwen/Qwen2.5-7B-Instruct has 1 request(s) in flight while GPU 0 is only 12% busy: the "
        "wait is not on the GPU"
    )
    assert (
        suggestion.evidence["signal"] == "nothing waits in the engine: requests arrive one by one"
    )
    assert suggestion.change.startswith("send Dify's calls in parallel")


def test_a_slow_first_token_without_queueing_points_at_the_front_end() -> None:
    [suggestion] = fired(in_flight_on_an_idle_gpu(3.2, 0.05), "slow-but-gpu-idle")
    assert suggestion.evidence["signal"] == "slow first token without queueing: the CPU front end"
    assert suggestion.change.startswith("--api-server-count 2")


def test_a_busy_gpu_is_where_the_time_goes() -> None:
    assert fired(in_flight_on_an_idle_gpu(3.2, 0.05, busy=85.0), "slow-but-gpu-idle") == []
