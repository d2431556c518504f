"""Turn a `VramRequest` into a resolved model and engine `Settings`; bad values raise
`InputError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gpu_insight.engines import ENGINES, ServingEngine, Setting, engine
from gpu_insight.errors import InputError
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.checkpoint import CheckpointWeights
from gpu_insight.estimate.kv_cache import KV_CACHE_DTYPES, QUANTIZED_KV_DTYPES, kv_element_bytes
from gpu_insight.estimate.parallel import tp_problem
from gpu_insight.estimate.plans import Settings
from gpu_insight.estimate.request import VramRequest
from gpu_insight.estimate.spec import ModelSpec, from_hf_config
from gpu_insight.estimate.weights import CHECKPOINT_FORMATS, GGUF_FORMATS, weight_bytes

DEFAULT_CONTEXT = 8192
ModelSource = Literal["pasted", "catalog", "hub", "gguf header"]


@dataclass(frozen=True)
class ResolvedModel:
    """A model as the estimator sizes it: its architecture, where that came from, and the
    checkpoint's exact tensor bytes when its headers were read."""

    spec: ModelSpec
    source: ModelSource
    reference: str  # the catalog entry's config URL, or the repository and revision read
    checkpoint: CheckpointWeights | None = None


def resolve_local(request: VramRequest) -> ResolvedModel:
    """A pasted config (it wins), else the catalog; `UnknownModelError` for other names."""
    if request.model_config_json is not None:
        spec = from_hf_config(request.model_config_json, name="model_config")
        display = (request.model or "").strip() or spec.model_type or "pasted config"
        return ResolvedModel(spec.model_copy(update={"name": display}), "pasted", "model_config")
    entry = lookup(request.model or "")
    return ResolvedModel(entry.spec(), "catalog", entry.source)


def weight_format(
    request: VramRequest, spec: ModelSpec, checkpoint: CheckpointWeights | None = None
) -> str:
    served = engine(request.engine)
    fmt: str
    if request.quantization != "none":
        fmt = request.quantization
    elif checkpoint is not None:
        if checkpoint.gguf != served.reads_gguf:
            raise InputError(_gguf_engine_problem(request.engine, checkpoint), "engine")
        if checkpoint.format == "fp32" and not served.keeps_fp32_weights:
            return "fp16"
        return checkpoint.format
    elif served.default_quantization is not None:
        fmt = served.default_quantization
    elif spec.checkpoint_quantization in CHECKPOINT_FORMATS:
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
        raise InputError(
            f"quantization: {fmt} is a GGUF type; use engine {_gguf_engines()}, "
            "or one of bf16, fp16, fp32, fp8, int8, awq, gptq, nf4"
        )
    return fmt


def _gguf_engines() -> str:
    return " or ".join(e for e in ENGINES if engine(e).reads_gguf)


def _gguf_engine_problem(served: str, checkpoint: CheckpointWeights) -> str:
    if checkpoint.gguf:
        return f"engine: a GGUF file ({checkpoint.format}) runs on {_gguf_engines()}, not {served}"
    return (
        f"engine: {served} runs GGUF files and this checkpoint is safetensors; name a GGUF "
        f"repository or file, or use another engine"
    )


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
    if not request.flash_attention:
        if not served.has("flash_attention_off"):
            raise InputError(f"flash_attention: {request.engine} has no switch for it; use true")
        if dtype in QUANTIZED_KV_DTYPES:
            raise InputError(
                f"kv_cache_dtype: a {dtype} KV cache needs flash attention ({request.engine} "
                "runs it only with flash attention on); use auto, or flash_attention true"
            )
    sizes: tuple[tuple[Setting, int], ...] = (
        ("tensor_parallel", tp),
        ("pipeline_parallel", request.pipeline_parallel),
    )
    for setting, size in sizes:
        if size > 1 and not served.has(setting):
            kind = setting.replace("_parallel", " parallelism")
            raise InputError(f"{setting}: {request.engine} has no {kind}; use 1")


def settings_for(
    request: VramRequest,
    spec: ModelSpec,
    tensor_parallel: int,
    checkpoint: CheckpointWeights | None = None,
) -> Settings:
    """The engine settings of a request at one TP size; the checkpoint's exact bytes count
    when it is served in its own format (asked for by name or by none)."""
    served = engine(request.engine)
    fmt = weight_format(request, spec, checkpoint)
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
    if checkpoint is not None and fmt == checkpoint.format:
        total, text = checkpoint.total_bytes, checkpoint.explanation
    elif checkpoint is not None and request.quantization == "none":  # fp32 loaded in 16 bits
        loaded = checkpoint.in_16_bits()
        total, text = loaded.total_bytes, loaded.explanation
    else:
        weights = weight_bytes(spec, fmt)
        total, text = weights.total_bytes, weights.explanation
    compute_bytes = 4 if fmt == "fp32" else 2
    kv_dtype = request.kv_cache_dtype
    if kv_dtype == "auto" and served.default_kv_cache_dtype is not None:
        kv_dtype = served.default_kv_cache_dtype  # type: ignore[assignment]
    return Settings(
        spec=spec,
        engine=request.engine,
        weight_bytes=total,
        weight_text=text,
        kv_element_bytes=kv_element_bytes(kv_dtype, compute_bytes),
        kv_dtype=request.kv_cache_dtype,
        quantization=fmt,
        context_length=context,
        concurrency=request.concurrency,
        tensor_parallel=tensor_parallel,
        pipeline_parallel=request.pipeline_parallel,
        gpu_memory_utilization=request.gpu_memory_utilization,
        enforce_eager=request.enforce_eager,
        flash_attention=request.flash_attention,
    )
