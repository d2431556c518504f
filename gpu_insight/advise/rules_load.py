"""Load rules: how the engine is fed, and GPUs that are busy, idle or full."""

from __future__ import annotations

import math
from collections.abc import Iterator

from gpu_insight.advise.reservation import Reservation, reservation
from gpu_insight.advise.sizing import known_fit
from gpu_insight.advise.suggestion import Situation, Suggestion, gib, gpu_label
from gpu_insight.engines import fills_gpu_memory, find, flag
from gpu_insight.engines.sglang import SGLANG
from gpu_insight.engines.vllm import VLLM
from gpu_insight.schemas import (
    IDLE_UTILIZATION_PERCENT,
    EngineMetrics,
    Gpu,
    GpuProcess,
)

_NAIVE_SERVER_MIN_MIB = 1024.0
_BUSY_PERCENT = 90.0
_SLOW_TOKENS_PER_S_PER_REQUEST = 5.0
_STARVED_PERCENT = 30.0
_IDLE_HELD_SHARE = 0.2
_FULL_SHARE = 0.95
_SLOW_TTFT_S = 2.0  # time to first token, p90
_SHORT_QUEUE_S = 0.5  # queue time p90 under this: requests did not wait for the engine
_LOW_KV_USE = 0.5  # a KV pool used less than this could be smaller


def _unbatched(engine: str | None) -> bool:
    """A known engine without continuous batching (a generate() loop)."""
    served = find(engine) if engine else None
    return served is not None and not served.continuous_batching


def serve_with_an_engine(s: Situation) -> Iterator[Suggestion]:
    if s.planned and _unbatched(s.engine) and s.model:
        yield _engine_suggestion(
            s.model, f"{s.model} is planned on plain {s.engine}", {"model": s.model}
        )
    for gpu in s.gpus:
        for p in s.processes_on(gpu):
            if not _unbatched(p.attribution.engine):
                continue
            if (p.used_memory_mib or 0.0) < _NAIVE_SERVER_MIN_MIB:
                continue
            model = p.attribution.model or "<model>"
            evidence = {
                "pid": p.pid,
                "model": model,
                "gpu": f"{gpu.index} {gpu.name}",
                "used_gib": gib(p.used_memory_mib or 0.0),
            }
            yield _engine_suggestion(
                model, f"{model} runs on plain transformers (pid {p.pid})", evidence
            )


def _engine_suggestion(model: str, situation: str, evidence: dict) -> Suggestion:
    return Suggestion(
        id="serve-with-an-engine",
        severity="warning",
        title=f"{situation}: serve it with {VLLM.label} or {SGLANG.label}",
        change=f"{VLLM.launch_command(model, VLLM.default_port)}  (or: "
        f"{SGLANG.launch_command(model)}); point Dify's OpenAI-compatible provider at it",
        evidence=evidence,
        expected_effect=(
            "continuous batching and a paged KV cache: concurrent users share one copy "
            "of the weights and the cache is not reserved per request — several times "
            "the throughput of a generate() loop"
        ),
        source="vLLM and SGLang docs (PagedAttention, continuous batching)",
        scope=model,
        focus=("throughput", "memory", "cost"),
        gain=0.7,
    )


def busy_but_slow(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        if (gpu.utilization_percent or 0.0) < _BUSY_PERCENT:
            continue
        for engine in s.engines_on(gpu):
            running, rate = engine.requests_running or 0.0, engine.generation_tokens_per_s
            if running < 1 or rate is None:
                continue
            per_request = rate / running
            if per_request >= _SLOW_TOKENS_PER_S_PER_REQUEST:
                continue
            yield Suggestion(
                id="busy-but-slow",
                severity="warning",
                title=f"GPU {gpu.index} is {gpu.utilization_percent:.0f}% busy but "
                f"{engine.model or engine.engine} makes only {per_request:.1f} tokens/s "
                "per request",
                change=(
                    "check `nvidia-smi -q -d PERFORMANCE` for throttling, preemptions in the "
                    "engine log, CPU offload and tensor parallel over PCIe"
                ),
                evidence={
                    "utilization_percent": round(gpu.utilization_percent or 0.0, 1),
                    "generation_tokens_per_s": round(rate, 1),
                    "requests_running": running,
                    "clock_event_reasons": ", ".join(gpu.clock_event_reasons) or "none",
                },
                expected_effect=(
                    "finds the real bottleneck: NVML utilization only says a kernel was "
                    "running, not how much of the GPU it used"
                ),
                source="NVML utilization definition; DCGM SM_ACTIVE",
                scope=engine.url,
                focus=("throughput", "latency"),
                gain=0.5,
            )


def starved_while_waiting(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        if gpu.utilization_percent is None or gpu.utilization_percent >= _STARVED_PERCENT:
            continue
        for engine in s.engines_on(gpu):
            waiting = engine.requests_waiting or 0.0
            if waiting < 1 or (engine.kv_cache_usage_ratio or 0.0) >= 0.9:
                continue  # a full KV cache is kv_cache_pressure's case
            running = int(engine.requests_running or 0)
            raised = flag(engine.engine, "max_sequences", max(2 * running, 16))
            yield Suggestion(
                id="starved-while-waiting",
                severity="warning",
                title=f"{engine.model or engine.engine}: {waiting:.0f} requests wait while GPU "
                f"{gpu.index} is only {gpu.utilization_percent:.0f}% busy",
                change=" or ".join(c for c in (raised, flag(engine.engine, "api_servers", 2)) if c),
                evidence={
                    "requests_waiting": waiting,
                    "requests_running": running,
                    "utilization_percent": round(gpu.utilization_percent, 1),
                    "kv_cache_usage_ratio": round(engine.kv_cache_usage_ratio or 0.0, 3),
                },
                expected_effect=(
                    "the scheduler admits more requests per step, or the API front end stops "
                    "being the bottleneck (tokenization, image preprocessing)"
                ),
                source="vLLM optimization docs (API server scale-out); SGLang #queue-req",
                scope=engine.url,
                focus=("throughput", "latency"),
                gain=0.6,
            )


def idle_gpu_holding_memory(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        total, used = gpu.memory_total_mib, gpu.memory_used_mib
        if not total or used is None or gpu.utilization_percent is None:
            continue
        if gpu.utilization_percent > IDLE_UTILIZATION_PERCENT or used / total < _IDLE_HELD_SHARE:
            continue
        engines = s.engines_on(gpu)
        if any((e.requests_per_s or 0.0) > 0.0 or (e.requests_running or 0.0) > 0 for e in engines):
            continue
        holders = sorted(s.processes_on(gpu), key=lambda p: p.used_memory_mib or 0.0, reverse=True)
        named = ", ".join(
            f"{p.attribution.model or p.name or p.pid} ({gib(p.used_memory_mib or 0.0)} GiB)"
            for p in holders[:3]
        )
        yield Suggestion(
            id="idle-gpu-holding-memory",
            severity="info",
            title=f"GPU {gpu.index} is idle but {gib(used)} GiB are held",
            change=(
                "stop or scale down the idle server, or move it next to another model on a "
                "shared GPU (see shared-gpu); for Ollama lower OLLAMA_KEEP_ALIVE"
            ),
            evidence={
                "utilization_percent": round(gpu.utilization_percent, 1),
                "used_gib": gib(used),
                "total_gib": gib(total),
                "held_by": named or "unknown processes",
            },
            expected_effect=f"frees up to {gib(used)} GiB (a whole GPU if it is the only tenant)",
            source="SGLang tuning docs (under-loaded servers)",
            scope=f"gpu {gpu.index}",
            focus=("cost",),
            gain=0.3,
        )


def memory_near_full(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        total, used = gpu.memory_total_mib, gpu.memory_used_mib
        if not total or used is None or used / total < _FULL_SHARE:
            continue
        processes = s.processes_on(gpu)
        if any(fills_gpu_memory(p.attribution.engine) for p in processes):
            continue  # it reserves memory on purpose: "full" is normal
        other = _roomiest_other(s.gpus, gpu)
        move = (
            f"move the largest process to GPU {other.index} ({gib(other.memory_free_mib or 0.0)} "
            "GiB free)"
            if other is not None
            else "free memory or cap allocations"
        )
        yield Suggestion(
            id="memory-near-full",
            severity="warning",
            title=f"GPU {gpu.index} memory is {used / total:.0%} full",
            change=f"{move}; set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to reduce "
            "fragmentation",
            evidence={
                "used_gib": gib(used),
                "total_gib": gib(total),
                "free_gib": gib(gpu.memory_free_mib or 0.0),
                "processes": len(processes),
            },
            expected_effect="the next allocation does not fail with CUDA out of memory",
            source="PyTorch CUDA memory management docs",
            scope=f"gpu {gpu.index}",
            focus=("memory",),
            gain=0.6,
        )


def _roomiest_other(gpus: list[Gpu], busy: Gpu) -> Gpu | None:
    others = [g for g in gpus if g.uuid != busy.uuid and (g.memory_free_mib or 0.0) > 0]
    return max(others, key=lambda g: g.memory_free_mib or 0.0, default=None)


def engine_reserved_memory(s: Situation) -> Iterator[Suggestion]:
    """A memory alert on a GPU an engine filled on purpose: say so, with the pool in use."""
    for gpu in s.gpus:
        if not s.memory_alert_on(gpu) or not gpu.memory_total_mib:
            continue
        for process in s.processes_on(gpu):
            held = reservation(process, gpu, s.engines_on(gpu))
            if held is not None:
                yield _reservation_advice(s, gpu, process, held)


def _reservation_advice(
    s: Situation, gpu: Gpu, process: GpuProcess, held: Reservation
) -> Suggestion:
    percent = round(held.used_mib / held.total_mib * 100)
    evidence: dict[str, float | int | str] = {
        "gpu": gpu_label(gpu),
        "pid": process.pid,
        "engine": process.attribution.engine,
        "used_percent": percent,
        "used_gib": gib(held.used_mib),
        "total_gib": gib(held.total_mib),
        "memory_fraction": held.fraction if held.fraction is not None else "the memory left free",
    }
    if held.reserved_mib is not None:
        evidence["reserved_gib"] = gib(held.reserved_mib)
    if held.kv_usage_ratio is not None:
        evidence["kv_cache_in_use_percent"] = round(held.kv_usage_ratio * 100)
    if held.kv_cache_size_tokens is not None:
        evidence["kv_cache_size_tokens"] = held.kv_cache_size_tokens
    lower = _lower_fraction(process, held)
    smaller = flag(process.attribution.engine, "memory_fraction", lower) if lower else None
    give_back = (
        f"to give memory back to other processes: {smaller}"
        if smaller
        else "lower its memory fraction only if another process needs the memory"
    )
    if lower is not None:
        evidence["fraction_that_keeps_twice_the_pool_in_use"] = lower
    return Suggestion(
        id="engine-reserved-memory",
        severity="info",
        title=f"GPU {gpu.index} is {percent}% full because {held.engine_label} (pid "
        f"{process.pid}) reserved it: {held.sentence()}",
        change=f"nothing leaks; {give_back}",
        evidence=evidence,
        expected_effect=(
            "the memory alert is explained: the engine keeps this memory for its KV cache "
            "whatever the load, and gives it back only when it stops"
        ),
        source="vLLM gpu_memory_utilization docs; SGLang mem_fraction_static; xinference#3432",
        scope=f"pid {process.pid}",
        focus=("memory",),
        gain=0.4,
    )


def _lower_fraction(process: GpuProcess, held: Reservation) -> float | None:
    """A fraction that keeps the weights and twice the KV cache in use (at least one full
    context), when the pool is mostly unused and the model's sizes are known."""
    fit = known_fit(process.attribution.model)
    usage, tokens, current = held.kv_usage_ratio, held.kv_cache_size_tokens, held.fraction
    if fit is None or usage is None or not tokens or current is None or usage >= _LOW_KV_USE:
        return None
    pool_mib = tokens * fit.kv_mib_per_token
    rest_mib = held.used_mib - pool_mib  # weights, activations, CUDA graphs
    keep_mib = max(2 * usage * pool_mib, fit.max_model_len * fit.kv_mib_per_token)
    lower = math.ceil((rest_mib + keep_mib) / held.total_mib * 100) / 100
    return lower if 0 < lower <= current - 0.05 else None


def slow_but_gpu_idle(s: Situation) -> Iterator[Suggestion]:
    """Requests in flight while the GPU idles: whatever is slow, it is not the GPU."""
    for gpu in s.gpus:
        if gpu.utilization_percent is None or gpu.utilization_percent >= _STARVED_PERCENT:
            continue
        for engine in s.engines_on(gpu):
            running, waiting = engine.requests_running or 0.0, engine.requests_waiting or 0.0
            if running < 1 or waiting >= 1:
                continue  # waiting requests with an idle GPU are starved-while-waiting's case
            yield _not_the_gpu(gpu, engine, running)


def _not_the_gpu(gpu: Gpu, engine: EngineMetrics, running: float) -> Suggestion:
    ttft = engine.time_to_first_token.p90_s if engine.time_to_first_token else None
    queue = engine.queue_time.p90_s if engine.queue_time else None
    evidence: dict[str, float | int | str] = {
        "model": engine.model or engine.engine,
        "gpu": gpu_label(gpu),
        "utilization_percent": round(gpu.utilization_percent or 0.0, 1),
        "requests_running": running,
        "requests_waiting": 0,
    }
    if ttft is not None:
        evidence["ttft_p90_s"] = round(ttft, 2)
    if queue is not None:
        evidence["queue_time_p90_s"] = round(queue, 2)
    if engine.requests_per_s is not None:
        evidence["requests_per_s"] = round(engine.requests_per_s, 2)
    front_end = ttft is not None and ttft >= _SLOW_TTFT_S and (queue or 0.0) < _SHORT_QUEUE_S
    servers = flag(engine.engine, "api_servers", 2)
    if front_end and servers:
        evidence["signal"] = "slow first token without queueing: the CPU front end"
        change = (
            f"{servers}, and check the engine host's CPU (tokenization, chat templates, image "
            "preprocessing run there)"
        )
    else:
        evidence["signal"] = "nothing waits in the engine: requests arrive one by one"
        change = (
            "send Dify's calls in parallel (iteration node in parallel mode, parallel "
            "branches) and check the network between Dify and the engine; the engine has "
            "room for more"
        )
    return Suggestion(
        id="slow-but-gpu-idle",
        severity="info",
        title=f"{engine.model or engine.engine} has {running:.0f} request(s) in flight while "
        f"GPU {gpu.index} is only {gpu.utilization_percent:.0f}% busy: the wait is not on the GPU",
        change=change,
        evidence=evidence,
        expected_effect=(
            "the time goes where the signal points (Dify's queue, the front end, the network): "
            "a faster GPU or a smaller model would not make the workflow faster"
        ),
        source="NVML utilization; SGLang tuning docs (#queue-req 0: the client is slow); "
        "dify#19727",
        scope=engine.url,
        focus=("latency",),
        gain=0.5,
    )
