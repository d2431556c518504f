"""A model's sizing for the advice rules, taken from the estimator (catalog, weights, KV)."""

from __future__ import annotations

from gpu_insight.advise.suggestion import ModelFit
from gpu_insight.engines.vllm import LARGE_GPU_SCHEDULER
from gpu_insight.estimate.activations import vllm_profile_bytes
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.kv_cache import kv_layout
from gpu_insight.estimate.overheads import MIB, vllm_cuda_graphs_mib, vllm_non_torch_mib
from gpu_insight.estimate.weights import WeightFormat, weight_bytes

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
    scheduler = LARGE_GPU_SCHEDULER
    activations, _ = vllm_profile_bytes(
        spec, scheduler.max_num_batched_tokens, scheduler.max_num_seqs, 1
    )
    overhead_mib = activations / MIB + vllm_non_torch_mib(1) + vllm_cuda_graphs_mib(scheduler)
    return ModelFit(
        model=entry.id,
        weights_mib={
            fmt: weight_bytes(spec, source).total_bytes / MIB for fmt, source in _SIZED_FORMATS
        },
        kv_mib_per_token=kv_layout(spec, element_bytes=2.0).bytes_per_token / MIB,
        overhead_mib=overhead_mib,
        num_attention_heads=spec.num_attention_heads,
        num_kv_heads=spec.num_kv_heads,
        max_model_len=spec.max_position_embeddings,
    )
