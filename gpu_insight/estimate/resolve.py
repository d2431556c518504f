"""Turn a `VramRequest` into a spec and engine `Settings`; bad values raise `InputError`."""

from __future__ import annotations

from gpu_insight.engines import ENGINES, ServingEngine, Setting, engine
from gpu_insight.errors import InputError
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.kv_cache import KV_CACHE_DTYPES, QUANTIZED_KV_DTYPES, kv_element_bytes
from gpu_insight.estimate.parallel import tp_problem
from gpu_insight.estimate.plans import Settings
from gpu_insight.estimate.request import VramRequest
from gpu_insight.estimate.spec import ModelSpec, from_hf_config
from gpu_insight.estimate.weights import GGUF_FORMATS, weight_bytes

DEFAULT_CONTEXT = 8192


def resolve_spec(request: VramRequest) -> tuple[ModelSpec, str]:
    """The spec and where it came from (pasted config wins over the catalog)."""
    if request.model_config_json is not None:
        spec = from_hf_config(request.model_config_json, name="model_config")
        display = (request.model or "").strip() or spec.model_type or "pasted config"
        return spec.model_copy(update={"name": display}), "model_config"
    entry = lookup(request.model or "")
    return entry.spec(), entry.source


def weight_format(request: VramRequest, spec: ModelSpec) -> str:
    served = engine(request.engine)
    fmt: str
    if request.quantization != "none":
        fmt = request.quantization
    elif served.default_quantization is not None:
        fmt = served.default_quantization
    elif spec.checkpoint_quantization in {"fp8", "awq", "gptq", "nf4", "int8"}:
        fmt = spec.checkpoint_quantization
    elif spec.torch_dtype in {"float32", "fp32"}:
        fmt = "fp32" if served.keeps_fp32_weights else "fp16"
    else:
        fmt = "fp16" if spec.torch_dtype in {"float16", "fp16"} else "bf16"
    if served.reads_gguf and fmt not in GGUF_FORMATS:
        raise InputError(
            f"quantization: {request.engine} runs GGUF files; accepted: "
            f"{', '.join(sorted(GGUF_FORMATS))} (or none = {served.default_quantization})"
        )
    if not served.reads_gguf and fmt in GGUF_FORMATS:
        gguf_engines = " or ".join(e for e in ENGINES if engine(e).reads_gguf)
        raise InputError(
            f"quantization: {fmt} is a GGUF type; use engine {gguf_engines}, "
            "or one of bf16, fp16, fp32, fp8, int8, awq, gptq, nf4"
        )
    return fmt


def _check_engine_settings(request: VramRequest, served: ServingEngine, tp: int) -> None:
    """Refuse what the engine cannot be told: a plan would count memory its flags leave out."""
    dtype = request.kv_cache_dtype
    if dtype in QUANTIZED_KV_DTYPES and dtype not in served.kv_cache_dtypes:
        accepted: list[str] = [d for d in KV_CACHE_DTYPES if d not in QUANTIZED_KV_DTYPES]
        accepted += list(served.kv_cache_dtypes)
        raise InputError(
            f"kv_cache_dtype: {request.engine} has no {dtype} KV cache; accepted: "
            f"{', '.join(accepted)}"
        )
    sizes: tuple[tuple[Setting, int], ...] = (
        ("tensor_parallel", tp),
        ("pipeline_parallel", request.pipeline_parallel),
    )
    for setting, size in sizes:
        if size > 1 and not served.has(setting):
            kind = setting.replace("_parallel", " parallelism")
            raise InputError(f"{setting}: {request.engine} has no {kind}; use 1")


def settings_for(request: VramRequest, spec: ModelSpec, tensor_parallel: int) -> Settings:
    served = engine(request.engine)
    fmt = weight_format(request, spec)
    _check_engine_settings(request, served, tensor_parallel)
    context = request.context_length or min(spec.max_position_embeddings, DEFAULT_CONTEXT)
    if spec.has_kv_cache and context > spec.max_position_embeddings:
        raise InputError(
            f"context_length: {context:,} exceeds the model's maximum "
            f"({spec.max_position_embeddings:,} tokens); accepted: 1 to "
            f"{spec.max_position_embeddings:,}"
        )
    if not spec.has_kv_cache and context > spec.max_position_embeddings:
        context = spec.max_position_embeddings
    if tensor_parallel > 1:
        problem = tp_problem(spec, tensor_parallel)
        if problem:
            raise InputError(problem)
    if request.pipeline_parallel > spec.num_layers:
        raise InputError(
            f"pipeline_parallel: {request.pipeline_parallel} exceeds the layer "
            f"count ({spec.num_layers}); accepted: 1 to {spec.num_layers}"
        )
    weights = weight_bytes(spec, fmt)  # type: ignore[arg-type]
    compute_bytes = 4 if fmt == "fp32" else 2
    kv_dtype = request.kv_cache_dtype
    if kv_dtype == "auto" and served.default_kv_cache_dtype is not None:
        kv_dtype = served.default_kv_cache_dtype  # type: ignore[assignment]
    return Settings(
        spec=spec,
        engine=request.engine,
        weight_bytes=weights.total_bytes,
        weight_text=weights.explanation,
        kv_element_bytes=kv_element_bytes(kv_dtype, compute_bytes),
        kv_dtype=request.kv_cache_dtype,
        quantization=fmt,
        context_length=context,
        concurrency=request.concurrency,
        tensor_parallel=tensor_parallel,
        pipeline_parallel=request.pipeline_parallel,
        gpu_memory_utilization=request.gpu_memory_utilization,
        enforce_eager=request.enforce_eager,
    )
