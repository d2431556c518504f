"""Tuning rules for vLLM and SGLang, GPU sharing and scale: prefix caching, prefill of long
prompts, CUDA graphs traded for KV cache, MoE experts over GPUs, the image budget of vision
models, CUDA MPS for small models sharing a GPU, and autoscaling a model's replicas.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator

from gpu_insight.advise.sizing import cuda_graphs_mib, known_fit
from gpu_insight.advise.suggestion import (
    ModelFit,
    Situation,
    Suggestion,
    compute_capability,
    gib,
    gpu_label,
)
from gpu_insight.engines import find, flag
from gpu_insight.engines.sglang import CHUNKED_PREFILL_TOKENS
from gpu_insight.engines.vllm import scheduler_defaults
from gpu_insight.estimate.overheads import TORCH_PROCESS_MIB
from gpu_insight.schemas import EngineMetrics, Gpu

_LONG_PROMPT_TOKENS = 1024  # a Dify system prompt with retrieved context is this long or more
_LOW_HIT_RATIO = 0.1
_SLOW_TTFT_S = 2.0
_QUEUED_S = 1.0
_PREFILL_PROMPT_TOKENS = 2048
_MAX_BATCHED_TOKENS = 32768
_KV_FULL = 0.95
_SMALL_SHARE = 0.3  # a model server holding at most this share of the GPU is small
_SHARED_IDLE_PERCENT = 50.0
_MPS_SERVER = "nvidia-cuda-mps-server"
QUEUE_PER_REPLICA = 4  # waiting requests per replica that one more replica would take
_SATURATED_PERCENT = 80.0
# The series autoscaling reads (the collector's /metrics) and the examples that use it.
QUEUE_SERIES = "gpu_insight_engine_requests_waiting"
AUTOSCALING_EXAMPLES = (
    "deploy/autoscaling/keda-scaledobject.yaml",
    "deploy/autoscaling/hpa-prometheus-adapter.yaml",
)
# Qwen2-VL, Qwen2.5-VL and Qwen3-VL processors resize images to at most `max_pixels` and make
# one visual token per 28 × 28 pixels; their default max_pixels is 12,845,056 (16,384 tokens)
# and the model cards suggest 1280 × 28 × 28 to save memory.
_QWEN_VL = re.compile(r"qwen\d(\.\d)?-vl", re.IGNORECASE)
_PIXELS_PER_VISUAL_TOKEN = 28 * 28
_QWEN_VL_DEFAULT_MAX_PIXELS = 12_845_056
_QWEN_VL_SUGGESTED_MAX_PIXELS = 1280 * 28 * 28
_IMAGES_PER_PROMPT = 2


def _prompt_tokens_per_request(engine: EngineMetrics) -> float | None:
    prompts, requests = engine.prompt_tokens_per_s, engine.requests_per_s
    if prompts is None or not requests:
        return None
    return prompts / requests


def prefix_caching(s: Situation) -> Iterator[Suggestion]:
    for engine in s.engines():
        on, off = flag(engine.engine, "prefix_caching"), flag(engine.engine, "prefix_caching_off")
        per_request = _prompt_tokens_per_request(engine)
        evidence: dict[str, float | int | str] = {
            "model": engine.model or engine.engine,
            "engine": engine.engine,
        }
        if per_request is not None:
            evidence["prompt_tokens_per_request"] = round(per_request)
        if engine.prefix_caching_enabled is False and off:
            long = per_request if per_request and per_request >= _LONG_PROMPT_TOKENS else None
            yield Suggestion(
                id="prefix-caching",
                severity="warning" if long else "info",
                title=f"{engine.model or engine.engine}: prefix caching is off"
                + (f" with {round(long)} prompt tokens per request" if long else ""),
                change=f"{on} instead of {off}" if on else f"drop {off}",
                evidence=evidence,
                expected_effect=(
                    "a prompt that starts like an earlier one (Dify's system prompt) skips "
                    "prefill for the shared part: lower time to first token and less compute"
                ),
                source="vLLM automatic prefix caching docs; SGLang RadixAttention",
                scope=engine.url,
                focus=("latency", "throughput"),
                gain=0.6 if long else 0.3,
            )
            continue
        ratio = engine.prefix_cache_hit_ratio
        if ratio is None or per_request is None or per_request < _LONG_PROMPT_TOKENS:
            continue
        if ratio >= _LOW_HIT_RATIO:
            continue
        evidence["prefix_cache_hit_percent"] = round(ratio * 100, 1)
        yield Suggestion(
            id="prefix-caching",
            severity="info",
            title=f"{engine.model or engine.engine}: only {round(ratio * 100, 1)}% of "
            f"{round(per_request)} prompt tokens per request come from the prefix cache",
            change=(
                "keep each Dify app's system prompt identical and first; move what changes per "
                "request (date and time, user name, retrieved documents) after it"
            ),
            evidence=evidence,
            expected_effect=(
                "requests of one app share their start: the cache serves it and prefill "
                "shrinks to the new part"
            ),
            source="vLLM automatic prefix caching docs (hits need an identical prefix)",
            scope=engine.url,
            focus=("latency", "throughput"),
            gain=0.4,
        )


def long_prompt_prefill(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        for engine in s.engines_on(gpu):
            budget = _batched_tokens_default(engine.engine, gpu)
            ttft = engine.time_to_first_token.p90_s if engine.time_to_first_token else None
            queue = engine.queue_time.p90_s if engine.queue_time else None
            per_request = _prompt_tokens_per_request(engine)
            if budget is None or ttft is None or queue is None or per_request is None:
                continue
            if ttft < _SLOW_TTFT_S or queue < _QUEUED_S or per_request < _PREFILL_PROMPT_TOKENS:
                continue
            raised = min(
                max(2 * budget, 1 << math.ceil(math.log2(per_request))), _MAX_BATCHED_TOKENS
            )
            if raised <= budget:
                continue
            yield Suggestion(
                id="long-prompt-prefill",
                severity="warning",
                title=f"{engine.model or engine.engine}: prompts of {round(per_request)} tokens "
                f"wait {queue:.1f} s in the queue and {ttft:.1f} s for their first token",
                change=flag(engine.engine, "batched_tokens", raised) or "",
                evidence={
                    "model": engine.model or engine.engine,
                    "prompt_tokens_per_request": round(per_request),
                    "queue_time_p90_s": round(queue, 2),
                    "ttft_p90_s": round(ttft, 2),
                    "batched_tokens_default": budget,
                    "batched_tokens_suggested": raised,
                },
                expected_effect=(
                    "each step prefills more prompt tokens: waiting prompts start sooner; a "
                    "larger step slows decoding of the running requests a little"
                ),
                source="vLLM optimization docs (chunked prefill, max_num_batched_tokens); "
                "SGLang hyperparameter tuning (chunked_prefill_size)",
                scope=engine.url,
                focus=("latency",),
                gain=0.6,
            )


def _batched_tokens_default(engine: str, gpu: Gpu) -> int | None:
    if flag(engine, "batched_tokens", 1) is None:
        return None
    if engine == "vllm":
        return scheduler_defaults(gpu.name, gpu.memory_total_mib).max_num_batched_tokens
    return CHUNKED_PREFILL_TOKENS


def enforce_eager_for_kv(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        total, free = gpu.memory_total_mib, gpu.memory_free_mib
        if not total or free is None:
            continue
        for engine in s.engines_on(gpu):
            eager = flag(engine.engine, "enforce_eager")
            if eager is None or not find(engine.engine) or not _kv_full(engine):
                continue
            if any(eager in (p.cmdline or "") for p in s.processes_on(gpu)):
                continue  # already without CUDA graphs
            graphs = cuda_graphs_mib(engine.model)
            if graphs is None or free >= graphs:
                continue  # the memory fraction can grow instead: kv-cache-pressure says so
            fit = known_fit(engine.model)
            evidence: dict[str, float | int | str] = {
                "model": engine.model or engine.engine,
                "gpu": gpu_label(gpu),
                "kv_cache_usage_ratio": round(engine.kv_cache_usage_ratio or 0.0, 3),
                "preemptions_per_s": round(engine.preemptions_per_s or 0.0, 3),
                "gpu_free_gib": gib(free),
                "cuda_graphs_gib": gib(graphs),
            }
            more = ""
            if fit is not None:
                tokens = int(graphs / fit.kv_mib_per_token)
                evidence["kv_tokens_gained"] = tokens
                more = f" (about {tokens} tokens)"
            yield Suggestion(
                id="enforce-eager-for-kv",
                severity="warning",
                title=f"{engine.model or engine.engine}: the KV cache is full and GPU "
                f"{gpu.index} has {gib(free)} GiB free: trade the {gib(graphs)} GiB of CUDA "
                "graphs for KV cache",
                change=eager,
                evidence=evidence,
                expected_effect=(
                    f"about {gib(graphs)} GiB more KV cache{more}: fewer preempted requests; "
                    "without CUDA graphs, decoding small batches gets slower"
                ),
                source="vLLM conserving memory docs (enforce_eager); estimator CUDA-graph pool",
                scope=engine.url,
                focus=("memory", "throughput"),
                gain=0.5,
            )


def _kv_full(engine: EngineMetrics) -> bool:
    preempting = (engine.preemptions_per_s or 0.0) > 0.0
    usage = engine.kv_cache_usage_ratio
    return preempting or (
        usage is not None and usage >= _KV_FULL and (engine.requests_waiting or 0) >= 1
    )


def moe_experts(s: Situation) -> Iterator[Suggestion]:
    fit, served = s.fit, find(s.engine)
    if fit is None or not fit.num_experts or not s.planned or served is None:
        return
    ep = served.flag("expert_parallel", 1)
    if ep is None:
        return
    fmt = "fp8" if served.quantizations.get("fp8") and _fp8_everywhere(s.gpus) else "bf16"
    weights = fit.weights_mib[fmt]
    budgets = sorted((_budget(s, g) - fit.overhead_mib for g in s.gpus), reverse=True)
    if not budgets or weights <= budgets[0]:
        return  # fits one GPU: nothing to spread
    size = next((n for n in _powers_of_two(len(budgets)) if n * budgets[n - 1] >= weights), None)
    evidence: dict[str, float | int | str] = {
        "model": fit.model,
        "weights_format": fmt,
        "experts": fit.num_experts,
        f"weights_{fmt}_gib": gib(weights),
        "largest_gpu_budget_gib": gib(budgets[0]),
        "gpus": len(budgets),
    }
    if size is not None:
        evidence["expert_parallel_gpus"] = size
        parallel = flag(s.engine, "tensor_parallel", size)
        change = " ".join(f for f in (parallel, served.flag("expert_parallel", size)) if f)
        what = f"spread its experts over {size} GPUs"
        effect = (
            f"each GPU holds 1/{size} of the experts ({gib(weights / size)} GiB) instead of a "
            "slice of every expert: less all-reduce traffic per token"
        )
    else:
        offload_gib = math.ceil((weights - sum(max(b, 0.0) for b in budgets)) / 1024)
        evidence["cpu_offload_gib"] = offload_gib
        change = flag(s.engine, "cpu_offload", offload_gib) or "more or larger GPUs"
        what = f"keep {offload_gib} GiB of it in CPU memory"
        effect = (
            "it runs, streaming the offloaded weights over PCIe in every forward pass: "
            "much slower, for testing or light use"
        )
    yield Suggestion(
        id="moe-experts",
        severity="warning",
        title=f"{fit.model}: its {fit.num_experts} experts need {gib(weights)} GiB ({fmt}), more "
        f"than one GPU's {gib(budgets[0])} GiB: {what}",
        change=change,
        evidence=evidence,
        expected_effect=effect,
        source="vLLM expert parallel deployment docs; SGLang --ep-size; vLLM cpu_offload_gb",
        scope=fit.model,
        focus=("memory", "throughput"),
        gain=0.6,
    )


def _budget(s: Situation, gpu: Gpu) -> float:
    """What a planned engine may take on the GPU: its fraction of total, at most free."""
    wanted = s.planned_gpu_memory_utilization * (gpu.memory_total_mib or 0.0)
    return min(wanted, gpu.memory_free_mib or 0.0)


def _fp8_everywhere(gpus: list[Gpu]) -> bool:
    return all(compute_capability(g) >= (8, 9) for g in gpus)


def _powers_of_two(limit: int) -> Iterator[int]:
    n = 2
    while n <= limit:
        yield n
        n *= 2


def vision_image_budget(s: Situation) -> Iterator[Suggestion]:
    if s.planned and s.fit is not None and s.fit.vision:
        yield _image_budget(s.fit.model, s.engine, s.fit, scope=s.fit.model, gpu=None)
    for gpu in s.gpus:
        for engine in s.engines_on(gpu):
            fit = known_fit(engine.model)
            if not (_is_qwen_vl(engine.model) or (fit is not None and fit.vision)):
                continue
            limits = flag(engine.engine, "images_per_prompt", 1)
            if limits is None:
                continue
            if any(limits.split()[0] in (p.cmdline or "") for p in s.processes_on(gpu)):
                continue  # its image budget is already set
            yield _image_budget(engine.model or "", engine.engine, fit, scope=engine.url, gpu=gpu)


def _image_budget(
    model: str, engine: str | None, fit: ModelFit | None, scope: str, gpu: Gpu | None
) -> Suggestion:
    evidence: dict[str, float | int | str] = {
        "model": model,
        "images_per_prompt": _IMAGES_PER_PROMPT,
    }
    flags = [flag(engine, "images_per_prompt", _IMAGES_PER_PROMPT)]
    effect = "the engine sizes its multimodal peak for at most that many images per request"
    if _is_qwen_vl(model):
        flags.append(flag(engine, "max_image_pixels", _QWEN_VL_SUGGESTED_MAX_PIXELS))
        most = _QWEN_VL_DEFAULT_MAX_PIXELS // _PIXELS_PER_VISUAL_TOKEN
        capped = _QWEN_VL_SUGGESTED_MAX_PIXELS // _PIXELS_PER_VISUAL_TOKEN
        evidence |= {"tokens_per_image_default_max": most, "tokens_per_image_capped": capped}
        effect = (
            f"a large image becomes at most {capped} visual tokens instead of {most}: the "
            "profiling peak and each request's KV cache shrink, and larger images no longer "
            "run out of memory"
        )
    if gpu is not None:
        evidence["gpu"] = gpu_label(gpu)
    return Suggestion(
        id="vision-image-budget",
        severity="info",
        title=f"{model} takes images without an image budget: cap images per request"
        + (" and their pixels" if _is_qwen_vl(model) else ""),
        change=" ".join(f for f in flags if f),
        evidence=evidence,
        expected_effect=effect,
        source="vLLM conserving memory docs (limit_mm_per_prompt, mm_processor_kwargs); "
        "Qwen2.5-VL model card (max_pixels); Qwen3-VL#911",
        scope=scope,
        focus=("memory",),
        gain=0.5,
    )


def _is_qwen_vl(model: str | None) -> bool:
    return bool(model and _QWEN_VL.search(model))


def cuda_mps(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        total, busy = gpu.memory_total_mib, gpu.utilization_percent
        if not total or busy is None or busy >= _SHARED_IDLE_PERCENT:
            continue
        processes = s.processes_on(gpu)
        if any(p.name == _MPS_SERVER for p in processes):
            continue  # MPS runs already
        servers = {
            p.pid: p
            for p in processes
            if (served := find(p.attribution.engine)) is not None
            and served.model_server
            and p.used_memory_mib
        }
        if len(servers) < 2:
            continue
        largest = max(p.used_memory_mib or 0.0 for p in servers.values())
        if largest > _SMALL_SHARE * total:
            continue
        share = 100 // len(servers)
        yield Suggestion(
            id="cuda-mps",
            severity="info",
            title=f"GPU {gpu.index} runs {len(servers)} small model servers, the largest holding "
            f"{round(largest / total * 100)}% of it, and is {busy:.0f}% busy: run them under MPS",
            change=(
                f"start the MPS daemon for GPU {gpu.index} (`nvidia-cuda-mps-control -d`) and "
                f"each server with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE={share}"
            ),
            evidence={
                "gpu": gpu_label(gpu),
                "model_servers": len(servers),
                "largest_share_percent": round(largest / total * 100),
                "utilization_percent": round(busy, 1),
                "context_gib_per_process": gib(TORCH_PROCESS_MIB),
                "thread_percentage_each": share,
            },
            expected_effect=(
                "their kernels run side by side instead of taking turns, and they share one "
                "CUDA context; MPS isolates no faults: a crash of one server can stop the others"
            ),
            source="NVIDIA MPS docs; vLLM gpu_memory_utilization docstring (several instances)",
            scope=f"gpu {gpu.index}",
            focus=("throughput", "cost"),
            gain=0.4,
        )


def autoscale_replicas(s: Situation) -> Iterator[Suggestion]:
    replicas: dict[str, list[EngineMetrics]] = defaultdict(list)
    for engine in s.engines():
        if engine.model:
            replicas[engine.model].append(engine)
    for model, engines in replicas.items():
        waiting = sum(e.requests_waiting or 0.0 for e in engines)
        per_replica = waiting / len(engines)
        busy = [
            g.utilization_percent or 0.0 for e in engines for g in s.gpus if g.uuid in e.gpu_uuids
        ]
        if per_replica < QUEUE_PER_REPLICA or not busy or min(busy) < _SATURATED_PERCENT:
            continue
        rate = sum(e.requests_per_s or 0.0 for e in engines) / len(engines)
        wanted = math.ceil(waiting / QUEUE_PER_REPLICA)
        yield Suggestion(
            id="autoscale-replicas",
            severity="info",
            title=f"{model}: {waiting:.0f} requests wait on {len(engines)} busy replica(s), "
            f"{per_replica:.1f} each: scale out on the queue",
            change=(
                f'scale on {QUEUE_SERIES}{{model="{model}"}} with {QUEUE_PER_REPLICA} waiting '
                f"requests per replica: {AUTOSCALING_EXAMPLES[0]} (KEDA) or "
                f"{AUTOSCALING_EXAMPLES[1]} (HPA with prometheus-adapter, on the app label)"
            ),
            evidence={
                "model": model,
                "replicas": len(engines),
                "requests_waiting": waiting,
                "waiting_per_replica": round(per_replica, 1),
                "requests_per_s_per_replica": round(rate, 2),
                "lowest_utilization_percent": round(min(busy), 1),
                "replicas_wanted": wanted,
            },
            expected_effect=(
                f"the autoscaler runs about {wanted} replicas while the queue lasts, and scales "
                "back when it empties"
            ),
            source="KEDA Prometheus scaler docs; Kubernetes HPA external metrics; "
            "prometheus-adapter",
            scope=model,
            focus=("throughput", "latency"),
            gain=0.4,
        )
