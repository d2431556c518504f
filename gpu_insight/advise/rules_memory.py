"""Memory rules: will the model fit, how much KV cache is left, how to split it over GPUs."""

from __future__ import annotations

import math
from collections.abc import Iterator

from gpu_insight.advise.suggestion import (
    MIB_PER_GIB,
    ModelFit,
    Situation,
    Suggestion,
    compute_capability,
    gib,
    gpu_label,
)
from gpu_insight.engines import Setting, find, flag
from gpu_insight.estimate.overheads import SAFETY_MARGIN_MIB
from gpu_insight.schemas import Gpu

_RESERVE_MIB = float(SAFETY_MARGIN_MIB)  # left free when sizing to what is free now
_SHARED_UTILIZATION_CAP = 0.95
_MIN_USEFUL_CONTEXT = 2048


def weights_do_not_fit(s: Situation) -> Iterator[Suggestion]:
    fit, gpu = s.fit, _roomiest(s.gpus)
    if fit is None or gpu is None:
        return
    room = _engine_budget(s, gpu) - fit.overhead_mib
    bf16 = fit.weights_mib["bf16"]
    if bf16 <= room:
        return
    fmt, change, how = _quantization_for(gpu, fit, s, room)
    quantized = fit.weights_mib[fmt]
    kv_tokens = int((room - quantized) / fit.kv_mib_per_token) if quantized < room else 0
    yield Suggestion(
        id="weights-do-not-fit",
        severity="critical",
        title=f"{fit.model}: 16-bit weights need {gib(bf16)} GiB, GPU {gpu.index} offers "
        f"{gib(room)} GiB — quantize to {fmt} or add GPUs",
        change=change,
        evidence={
            "weights_bf16_gib": gib(bf16),
            f"weights_{fmt}_gib": gib(quantized),
            "gpu": gpu_label(gpu),
            "compute_capability": gpu.compute_capability or "unknown",
            "engine_budget_gib": gib(_engine_budget(s, gpu)),
            "overhead_gib": gib(fit.overhead_mib),
            "kv_tokens_after": kv_tokens,
        },
        expected_effect=(
            f"weights shrink to {gib(quantized)} GiB, "
            + (
                f"leaving KV cache for about {kv_tokens} tokens"
                if kv_tokens > 0
                else "still too much for one GPU: split the model over GPUs as well"
            )
            + f"; {how}"
        ),
        source="vLLM docs: quantization/supported_hardware, fp8",
        scope=fit.model,
        focus=("memory", "cost"),
        gain=0.9,
    )


def kv_cache_below_context(s: Situation) -> Iterator[Suggestion]:
    fit, gpu = s.fit, _roomiest(s.gpus)
    if fit is None or gpu is None or not gpu.memory_total_mib:
        return
    room = _engine_budget(s, gpu) - fit.overhead_mib
    fmt = "bf16" if fit.weights_mib["bf16"] <= room else _quantization_for(gpu, fit, s, room)[0]
    budget = room - fit.weights_mib[fmt]
    if budget <= 0:
        return  # the weights themselves do not fit: weights_do_not_fit speaks
    tokens = int(budget / fit.kv_mib_per_token)
    if tokens >= fit.max_model_len:
        return
    usable = tokens // 1024 * 1024
    yield Suggestion(
        id="kv-cache-below-context",
        severity="critical" if tokens < _MIN_USEFUL_CONTEXT else "warning",
        title=f"{fit.model}: KV cache holds {tokens} tokens, the model's context is "
        f"{fit.max_model_len} — cap the context or use an 8-bit KV cache",
        change=" or ".join(
            f for f in (flag(s.engine, "max_context", usable), _kv_8bit_flag(s.engine)) if f
        ),
        evidence={
            "weights_format": fmt,
            "kv_budget_gib": gib(budget),
            "kv_gib_per_1k_tokens": round(fit.kv_mib_per_token * 1024 / MIB_PER_GIB, 3),
            "kv_tokens": tokens,
            "max_model_len": fit.max_model_len,
            "gpu": gpu_label(gpu),
        },
        expected_effect=(
            f"the engine starts (vLLM refuses to when one full-length request cannot fit); "
            f"an 8-bit KV cache doubles it to about {2 * tokens} tokens"
        ),
        source="vLLM kv_cache_utils error text; quantized_kvcache docs",
        scope=fit.model,
        focus=("memory", "latency"),
        gain=0.7,
    )


def utilization_exceeds_free(s: Situation) -> Iterator[Suggestion]:
    served = find(s.engine)
    if not s.planned or served is None or served.default_memory_fraction is None:
        return  # only an engine that reserves a share of total memory checks it against free
    gpu = _roomiest(s.gpus)
    if gpu is None or not gpu.memory_total_mib or gpu.memory_free_mib is None:
        return
    wanted = s.planned_gpu_memory_utilization * gpu.memory_total_mib
    if wanted <= gpu.memory_free_mib:
        return
    fits_now = math.floor((gpu.memory_free_mib - _RESERVE_MIB) / gpu.memory_total_mib * 100) / 100
    if fits_now <= 0:
        return  # nothing left to give: weights_do_not_fit or memory rules speak
    if s.fit is not None and _smallest_need(s.fit) > fits_now * gpu.memory_total_mib:
        return  # not even the smallest weights fit what is free: weights_do_not_fit speaks
    yield Suggestion(
        id="utilization-exceeds-free",
        severity="critical",
        title=f"GPU {gpu.index} has {gib(gpu.memory_free_mib)} GiB free, "
        f"{s.planned_gpu_memory_utilization:g} of {gib(gpu.memory_total_mib)} GiB is "
        f"{gib(wanted)} GiB — set the memory fraction to {fits_now:g}",
        change=served.flag("memory_fraction", fits_now) or "",
        evidence={
            "gpu": gpu_label(gpu),
            "free_gib": gib(gpu.memory_free_mib),
            "total_gib": gib(gpu.memory_total_mib),
            "requested_fraction": s.planned_gpu_memory_utilization,
            "requested_gib": gib(wanted),
            "fraction_that_fits": fits_now,
        },
        expected_effect=(
            "the engine starts next to the other tenants instead of failing with "
            "'Free memory on device … is less than desired GPU memory utilization'; "
            "start engines one after another, not at once"
        ),
        source="vLLM gpu_worker startup check; vllm#17979",
        scope=f"gpu {gpu.index}",
        focus=("memory",),
        gain=0.8,
    )


def parallelism(s: Situation) -> Iterator[Suggestion]:
    fit = s.fit
    if fit is None or not s.gpus:
        return
    bf16 = fit.weights_mib["bf16"]
    roomy = sorted(s.gpus, key=_free, reverse=True)
    single = _free(roomy[0]) - fit.overhead_mib
    if bf16 <= single:
        yield from _replicas(s, fit, roomy)
        return
    for size in (2, 4, 8):
        if size > len(roomy):
            break
        per_gpu = bf16 / size + fit.overhead_mib
        if per_gpu > _free(roomy[size - 1]):
            continue
        chosen = roomy[:size]
        divisible = fit.num_attention_heads % size == 0 and (
            fit.num_kv_heads % size == 0 or size % fit.num_kv_heads == 0
        )
        nvlink = all(g.nvlink_active for g in chosen)
        tensor = divisible and nvlink
        kind: Setting = "tensor_parallel" if tensor else "pipeline_parallel"
        why = (
            "GPUs linked by NVLink and heads divisible"
            if tensor
            else ("attention heads not divisible" if not divisible else "no NVLink between GPUs")
        )
        yield Suggestion(
            id="tensor-parallel" if tensor else "pipeline-parallel",
            severity="warning",
            title=f"{fit.model} needs {gib(bf16)} GiB of weights: split it over {size} GPUs "
            f"({'tensor' if tensor else 'pipeline'} parallel: {why})",
            change=flag(s.engine, kind, size) or f"{size} GPUs",
            evidence={
                "weights_bf16_gib": gib(bf16),
                "per_gpu_gib": gib(per_gpu),
                "gpus": ", ".join(gpu_label(g) for g in chosen),
                "min_free_gib": gib(_free(chosen[-1])),
                "attention_heads": fit.num_attention_heads,
                "kv_heads": fit.num_kv_heads,
                "nvlink": "yes" if nvlink else "no or unknown",
            },
            expected_effect=(
                f"about {gib(bf16 / size)} GiB of weights per GPU, the rest for KV cache"
                + ("" if tensor else "; pipeline parallel avoids all-reduce traffic over PCIe")
            ),
            source="vLLM parallelism_scaling docs",
            scope=fit.model,
            focus=("memory", "throughput"),
            gain=0.6,
        )
        return


def kv_cache_pressure(s: Situation) -> Iterator[Suggestion]:
    for engine in s.engines():
        preempting = (engine.preemptions_per_s or 0.0) > 0.0
        kv = engine.kv_cache_usage_ratio
        full_and_waiting = kv is not None and kv >= 0.95 and (engine.requests_waiting or 0) >= 1
        if not (preempting or full_and_waiting):
            continue
        gpu = next((g for g in s.gpus if g.uuid in engine.gpu_uuids), None)
        options = [_kv_8bit_flag(engine.engine)]
        raise_to = _raised_fraction(engine.gpu_memory_utilization, gpu)
        if raise_to is not None:
            options.insert(0, flag(engine.engine, "memory_fraction", raise_to))
        if engine.requests_running:
            options.append(
                flag(engine.engine, "max_sequences", max(1, int(engine.requests_running * 0.75)))
            )
        evidence: dict[str, float | int | str] = {
            "engine": engine.engine,
            "kv_cache_usage_ratio": round(kv, 3) if kv is not None else "unknown",
            "requests_waiting": engine.requests_waiting or 0,
            "requests_running": engine.requests_running or 0,
        }
        if engine.preemptions_per_s is not None:
            evidence["preemptions_per_s"] = round(engine.preemptions_per_s, 3)
        if gpu is not None and gpu.memory_free_mib is not None:
            evidence["gpu_free_gib"] = gib(gpu.memory_free_mib)
        yield Suggestion(
            id="kv-cache-pressure",
            severity="critical" if (engine.preemptions_per_s or 0.0) >= 0.1 else "warning",
            title=f"{engine.model or engine.url}: KV cache full"
            + (", requests are being preempted" if preempting else " with requests waiting"),
            change=" or ".join(o for o in options if o),
            evidence=evidence,
            expected_effect=(
                "more room for concurrent sequences: fewer recomputed (preempted) requests "
                "and a shorter queue; lowering max-num-seqs trades throughput for stability"
            ),
            source="vLLM optimization docs (preemption)",
            scope=engine.url,
            focus=("memory", "latency", "throughput"),
            gain=0.8 if preempting else 0.6,
        )


def shared_gpu(s: Situation) -> Iterator[Suggestion]:
    for gpu in s.gpus:
        instances = {
            (p.attribution.engine, p.attribution.port): p
            for p in s.processes_on(gpu)
            if _model_server(p.attribution.engine)
        }
        if len(instances) < 2:
            continue
        fractions = [e.gpu_memory_utilization for e in s.engines_on(gpu)]
        known = [f for f in fractions if f is not None]
        total = sum(known)
        if known and len(known) == len(instances) and total <= _SHARED_UTILIZATION_CAP:
            continue
        each = math.floor(_SHARED_UTILIZATION_CAP / len(instances) * 100) / 100
        fractions_flags = sorted(
            {f for engine, _ in instances if (f := flag(engine, "memory_fraction", each))}
        )
        sized = f"{' / '.join(fractions_flags)} on each (or sized to each model), "
        models = ", ".join(
            f"{p.attribution.engine}:{p.attribution.model or p.pid}" for p in instances.values()
        )
        yield Suggestion(
            id="shared-gpu",
            severity="warning" if total > _SHARED_UTILIZATION_CAP else "info",
            title=f"GPU {gpu.index} is shared by {len(instances)} model servers: keep their "
            f"memory fractions below {_SHARED_UTILIZATION_CAP} together",
            change=(
                f"{sized if fractions_flags else ''}start them one after another; for many "
                "small models consider MPS"
            ),
            evidence={
                "gpu": gpu_label(gpu),
                "instances": models,
                "fractions_sum": round(total, 2) if known else "unknown",
                "free_gib": gib(gpu.memory_free_mib or 0.0),
            },
            expected_effect=(
                "predictable coexistence: no startup failure or OOM when one restarts; "
                "MPS saves about 0.5 GiB of CUDA context per process"
            ),
            source="vLLM gpu_memory_utilization docstring; NVIDIA MPS docs",
            scope=f"gpu {gpu.index}",
            focus=("memory", "cost"),
            gain=0.5,
        )


def _replicas(s: Situation, fit: ModelFit, roomy: list[Gpu]) -> Iterator[Suggestion]:
    """The model fits one GPU: with several free GPUs, replicas beat tensor parallel."""
    need = fit.weights_mib["bf16"] + fit.overhead_mib
    able = [g for g in roomy if _free(g) >= need * 1.5]  # room for weights and a useful KV
    if len(able) < 2 or not s.planned:
        return
    yield Suggestion(
        id="data-parallel-replicas",
        severity="info",
        title=f"{fit.model} fits one GPU and {len(able)} GPUs have room: run replicas",
        change=flag(s.engine, "data_parallel", len(able))
        or f"one instance per GPU ({len(able)} instances) behind a load balancer",
        evidence={
            "weights_bf16_gib": gib(fit.weights_mib["bf16"]),
            "gpus_with_room": len(able),
        },
        expected_effect="close to linear throughput scaling, no all-reduce between GPUs",
        source="SGLang hyperparameter tuning docs (DP is better for throughput)",
        scope=fit.model,
        focus=("throughput",),
        gain=0.4,
    )


def _quantization_for(gpu: Gpu, fit: ModelFit, s: Situation, room: float) -> tuple[str, str, str]:
    """(weight format, change, why): the first format for the GPU's architecture that fits
    `room`, else the smallest one."""
    cc = compute_capability(gpu)
    fp16 = flag(s.engine, "dtype", "float16")
    int4 = (
        "int4",
        f"serve an AWQ or GPTQ int4 checkpoint of {fit.model}"
        + ("" if cc >= (8, 0) or fp16 is None else f" with {fp16}"),
        "vLLM runs int4 with Marlin kernels on compute capability 8.0+"
        if cc >= (8, 0)
        else "no FP8, Marlin or bfloat16 below compute capability 8.0",
    )
    if cc >= (8, 9) and fit.weights_mib["fp8"] <= room:
        change = flag(s.engine, "quantization", "fp8") or "an FP8 checkpoint"
        return "fp8", f"{change} (or serve an FP8 checkpoint)", "FP8 runs natively on Ada/Hopper"
    return int4


def _kv_8bit_flag(engine: str | None) -> str | None:
    """The flag of the engine's first 8-bit KV cache type (FP8, or q8_0 on the GGUF servers)."""
    served = find(engine)
    if served is None or not served.kv_cache_dtypes:
        return None
    return served.flag("kv_cache_dtype", next(iter(served.kv_cache_dtypes)))


def _model_server(engine: str) -> bool:
    served = find(engine)
    return served is not None and served.model_server


def _smallest_need(fit: ModelFit) -> float:
    return min(fit.weights_mib.values()) + fit.overhead_mib


def _raised_fraction(current: float | None, gpu: Gpu | None) -> float | None:
    if current is None or gpu is None or not gpu.memory_total_mib or gpu.memory_free_mib is None:
        return None
    spare = (gpu.memory_free_mib - _RESERVE_MIB) / gpu.memory_total_mib
    raised = math.floor(min(current + spare, _SHARED_UTILIZATION_CAP) * 100) / 100
    return raised if raised >= current + 0.02 else None


def _engine_budget(s: Situation, gpu: Gpu) -> float:
    """Memory the engine may take on the GPU: its fraction of total, at most what is free."""
    total = gpu.memory_total_mib or 0.0
    wanted = s.planned_gpu_memory_utilization * total
    return min(wanted, _free(gpu)) if s.planned else wanted


def _roomiest(gpus: list[Gpu]) -> Gpu | None:
    return max(gpus, key=_free, default=None)


def _free(gpu: Gpu) -> float:
    return gpu.memory_free_mib or 0.0
