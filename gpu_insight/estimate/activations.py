"""Transient activation memory of a forward pass, per engine.

Hugging Face transformers prefill (bf16), measured on an H100: tokens × (3·I + 4·h) × 2 B (the
gated MLP's three intermediate tensors and a few hidden-size buffers), plus cuBLAS's workspace,
plus, where a sliding window forces SDPA onto an explicit boolean mask, batch × seq² elements of
mask and its float expansion. vLLM profiles one forward at `max_num_batched_tokens` and a
sampler dummy run over `max_num_seqs` fp32 logits; its torch peak increase runs about 25 % over
the larger of the two (3rd-party log, research §2.3).
"""

from __future__ import annotations

from gpu_insight.estimate.spec import ModelSpec

CUBLAS_WORKSPACE_BYTES = 32 * 2**20  # torch's default on Hopper: 8 chunks of 4 MiB
SLIDING_MASK_BYTES_PER_ELEMENT = 10  # bool mask + its float expansion inside SDPA (H100 fit)
VLLM_PROFILE_MARGIN = 1.25


def mlp_intermediate(spec: ModelSpec, tensor_parallel: int = 1) -> int:
    """Intermediate width one token's MLP pass materialises (MoE: its routed experts)."""
    if spec.is_moe:
        width = spec.experts_per_token * spec.moe_intermediate_size
        return (width + spec.shared_expert_intermediate_size) // tensor_parallel
    return spec.intermediate_size // tensor_parallel


def prefill_bytes(
    spec: ModelSpec, tokens: int, dtype_bytes: int = 2, tensor_parallel: int = 1
) -> int:
    """Per-token transient of one layer's forward: 3 MLP intermediates + 4 hidden buffers."""
    width = 3 * mlp_intermediate(spec, tensor_parallel) + 4 * spec.hidden_size
    return tokens * width * dtype_bytes


def sliding_mask_bytes(spec: ModelSpec, batch: int, seq_len: int) -> int:
    """transformers materialises a batch × seq × seq mask once a sliding window cuts in."""
    if not spec.sliding_layers or spec.sliding_window is None or seq_len <= spec.sliding_window:
        return 0
    return batch * seq_len * seq_len * SLIDING_MASK_BYTES_PER_ELEMENT


def vllm_profile_bytes(
    spec: ModelSpec, max_num_batched_tokens: int, max_num_seqs: int, tensor_parallel: int
) -> tuple[int, str]:
    forward = prefill_bytes(spec, max_num_batched_tokens, 2, tensor_parallel)
    sampler = 2 * max_num_seqs * spec.vocab_size * 4
    peak = int(max(forward, sampler) * VLLM_PROFILE_MARGIN)
    return peak, (
        f"{VLLM_PROFILE_MARGIN} × max(forward {max_num_batched_tokens} tokens × "
        f"(3·{mlp_intermediate(spec, tensor_parallel)} + 4·{spec.hidden_size}) × 2 B = "
        f"{forward / 2**20:,.0f} MiB, sampler 2 × {max_num_seqs} seqs × {spec.vocab_size} × 4 B = "
        f"{sampler / 2**20:,.0f} MiB)"
    )
