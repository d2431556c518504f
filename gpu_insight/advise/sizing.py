"""Model sizings for the advice rules, all from the estimator: catalog models (weights, KV per
token, overheads), GGUF models from the shape Ollama reports, and what an engine must hold."""

from __future__ import annotations

from functools import cache

from gpu_insight.advise.suggestion import ModelFit
from gpu_insight.engines.vllm import LARGE_GPU_SCHEDULER, model_runner
from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest, estimate
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.kv_cache import kv_layout
from gpu_insight.estimate.overheads import MIB, vllm_cuda_graphs_mib
from gpu_insight.estimate.plans.vllm import budget_overhead_mib
from gpu_insight.estimate.spec import from_hf_config
from gpu_insight.estimate.weights import GGUF_BITS_PER_PARAM, WeightFormat, weight_bytes
from gpu_insight.schemas import Engine, GgufArchitecture, KnownEngine

_F16_BYTES = 2.0  # Ollama and llama.cpp keep the KV cache in f16 unless told otherwise
# the formats a sizing offers, each weighed as the checkpoint format that serves it
_SIZED_FORMATS: tuple[tuple[str, WeightFormat], ...] = (
    ("bf16", "bf16"),
    ("fp8", "fp8"),
    ("int4", "awq"),
)


def model_fit(name: str) -> ModelFit:
    """Sizing of a catalog model at TP 1 on vLLM with its large-GPU scheduler defaults; raises
    `errors.UnknownModelError`."""
    entry = lookup(name)
    spec = entry.spec()
    return ModelFit(
        model=entry.id,
        weights_mib={
            fmt: weight_bytes(spec, source).total_bytes / MIB for fmt, source in _SIZED_FORMATS
        },
        kv_mib_per_token=kv_layout(spec, element_bytes=2.0).bytes_per_token / MIB,
        overhead_mib=budget_overhead_mib(spec, LARGE_GPU_SCHEDULER),
        num_attention_heads=spec.num_attention_heads,
        num_kv_heads=spec.num_kv_heads,
        max_model_len=spec.max_position_embeddings,
        num_experts=spec.num_experts,
        vision=spec.vision_params > 0,
    )


@cache
def known_fit(name: str | None) -> ModelFit | None:
    """The catalog sizing of a model seen running, or None when the catalog lacks it."""
    if not name:
        return None
    try:
        return model_fit(name)
    except InputError:
        return None


@cache
def engine_need_mib(model: str | None, engine: Engine, context_length: int | None) -> float | None:
    """What `engine` must hold to serve a catalog `model` at one sequence of `context_length`
    (the estimator's default context when None), or None when the estimator cannot tell."""
    if not model or engine == "unknown":
        return None
    served: KnownEngine = engine
    try:
        found = estimate(VramRequest(model=model, engine=served, context_length=context_length))
    except (InputError, ValueError):  # not in the catalog, or a context it does not have
        return None
    return found.need_mib_per_gpu


def gguf_kv_mib_per_token(shape: GgufArchitecture) -> float | None:
    """KV cache per token of context, all layers, in f16 (the estimator's KV layout)."""
    if not (shape.block_count and shape.head_count and shape.embedding_length):
        return None
    config = {
        "model_type": shape.architecture,
        "num_hidden_layers": shape.block_count,
        "hidden_size": shape.embedding_length,
        "num_attention_heads": shape.head_count,
        "num_key_value_heads": shape.head_count_kv or shape.head_count,
        "head_dim": shape.key_length or shape.embedding_length // shape.head_count,
        # not part of the KV cache: any valid value does
        "intermediate_size": shape.feed_forward_length or shape.embedding_length,
        "vocab_size": shape.vocab_size or 1,
        "max_position_embeddings": shape.context_length or 1,
    }
    try:
        spec = from_hf_config(config, name=shape.architecture)
    except InputError:
        return None
    return kv_layout(spec, element_bytes=_F16_BYTES).bytes_per_token / MIB


def gguf_weights_mib(shape: GgufArchitecture | None, gguf_type: str) -> float | None:
    """Weights of the model in a GGUF type (the estimator's bits per parameter), or None when
    the type or the parameter count is not known."""
    bits = GGUF_BITS_PER_PARAM.get(gguf_type.lower())
    if shape is None or shape.parameter_count is None or bits is None:
        return None
    return shape.parameter_count * bits / 8 / MIB


def smaller_gguf_types(gguf_type: str) -> list[str]:
    """The estimator's GGUF types with fewer bits than this one, largest first."""
    current = GGUF_BITS_PER_PARAM.get(gguf_type.lower())
    if current is None:
        return []
    return sorted(
        (t for t, bits in GGUF_BITS_PER_PARAM.items() if bits < current),
        key=lambda t: -GGUF_BITS_PER_PARAM[t],
    )


def cuda_graphs_mib(model: str | None) -> float | None:
    """The estimator's CUDA-graph memory of a catalog model on vLLM (its runner's figure per
    layer; SGLang's graphs are sized the same way), or None when the catalog lacks it."""
    if not model:
        return None
    try:
        spec = lookup(model).spec()
    except InputError:
        return None
    return float(vllm_cuda_graphs_mib(spec.num_layers, model_runner(spec.model_type)))
