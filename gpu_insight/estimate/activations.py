"""Transient activation memory of a forward pass, per engine.

Hugging Face transformers prefill (bf16), measured on an H100: tokens × (3·I + 4·h) × 2 B (the
gated MLP's three intermediate tensors, four when one fused gate_up projection stays alive, and a
few hidden-size buffers), plus cuBLAS's workspace. Once a sliding window cuts in, transformers
also builds one boolean Q × K mask, and each sliding layer's SDPA call copies it to an additive
bf16 mask per sequence (see `sliding_mask_bytes` and `masked_attention_bytes`). vLLM profiles one
forward at `max_num_batched_tokens` and a sampler dummy run over `max_num_seqs` fp32 logits; its
torch peak increase runs about 25 % over the larger of the two (3rd-party log, research §2.3).
A multimodal model's profile run also encodes one largest image (`vision_encoder_bytes`).
"""

from __future__ import annotations

from gpu_insight.estimate.spec import ModelSpec

CUBLAS_WORKSPACE_BYTES = 32 * 2**20  # torch's default on Hopper: 8 chunks of 4 MiB
VLLM_PROFILE_MARGIN = 1.25
GATED_MLP_TENSORS = 3  # gate, up and act(gate) · up are alive together
# Phi3MLP / GlmMLP / ChatGLM's dense_h_to_4h: one gate_up projection of width 2·I, chunked into
# views, stays alive while act(gate) and the product are computed: 4 tensors of width I.
FUSED_GATE_UP_MODEL_TYPES = frozenset({"phi3", "glm", "glm4", "chatglm"})


def mlp_intermediate(spec: ModelSpec, tensor_parallel: int = 1) -> int:
    """Intermediate width one token's MLP pass materialises (MoE: its routed experts)."""
    if spec.is_moe:
        width = spec.experts_per_token * spec.moe_intermediate_size
        return (width + spec.shared_expert_intermediate_size) // tensor_parallel
    return spec.intermediate_size // tensor_parallel


def transformers_mlp_tensors(spec: ModelSpec) -> int:
    """Intermediate-width tensors transformers' MLP holds at its peak."""
    fused = spec.model_type in FUSED_GATE_UP_MODEL_TYPES
    return GATED_MLP_TENSORS + 1 if fused else GATED_MLP_TENSORS


def prefill_bytes(
    spec: ModelSpec,
    tokens: int,
    dtype_bytes: int = 2,
    tensor_parallel: int = 1,
    mlp_tensors: int = GATED_MLP_TENSORS,
) -> int:
    """Per-token transient of one layer's MLP: its intermediates + 4 hidden buffers."""
    width = mlp_tensors * mlp_intermediate(spec, tensor_parallel) + 4 * spec.hidden_size
    return tokens * width * dtype_bytes


def sliding_mask_built(spec: ModelSpec, seq_len: int) -> bool:
    """transformers skips the mask (SDPA's `is_causal`) only while kv_length < the window.

    masking_utils._ignore_causal_mask_sdpa: `local_attention_size is None or kv_length <
    local_attention_size`; a prefill's kv_length is its sequence length.
    """
    window = spec.sliding_window
    return spec.sliding_layers > 0 and window is not None and seq_len >= window


def sliding_mask_bytes(spec: ModelSpec, seq_len: int) -> int:
    """The boolean mask `create_sliding_window_causal_mask` builds once per forward.

    masking_utils.sdpa_mask evaluates the index-based mask function on (1, 1, Q, K) aranges and
    `expand`s it over the batch (a view), so one Q × K byte mask lives through the forward.
    """
    return seq_len * seq_len if sliding_mask_built(spec, seq_len) else 0


def masked_attention_bytes(spec: ModelSpec, batch: int, seq_len: int, dtype_bytes: int = 2) -> int:
    """Transient of one sliding layer's SDPA call with that explicit mask (0 without one).

    torch's SDPA turns a boolean mask into an additive one of the query dtype
    (`convert_boolean_attn_mask`: `at::where` over the expanded B × 1 × Q × K mask); and with a
    mask transformers' `sdpa_attention_forward` cannot use `enable_gqa`, so `repeat_kv` copies K
    and V to every query head. Live with them: query, output, the residual and the normed input.
    The fused kernel (cuDNN on an H100 with torch 2.11) never materialises B × H × Q × K weights.
    """
    if not sliding_mask_built(spec, seq_len):
        return 0
    tokens = batch * seq_len
    heads_width = spec.num_attention_heads * spec.head_dim
    per_token = (4 * heads_width + 2 * spec.hidden_size) * dtype_bytes
    return batch * seq_len * seq_len * dtype_bytes + tokens * per_token


def vision_encoder_bytes(spec: ModelSpec) -> int:
    """The engine's multimodal profile encodes one largest image: the vision MLP's peak over
    its patches (intermediates + 4 hidden buffers, 16-bit), and the image's embeddings kept
    for the text forward (tokens × text hidden)."""
    vision = spec.vision
    if vision is None:
        return 0
    width = vision.mlp_tensors * vision.intermediate_size + 4 * vision.hidden_size
    return (vision.patches_per_image * width + vision.tokens_per_image * spec.hidden_size) * 2


def vllm_profile_bytes(
    spec: ModelSpec, max_num_batched_tokens: int, max_num_seqs: int, tensor_parallel: int
) -> tuple[int, str]:
    forward = prefill_bytes(spec, max_num_batched_tokens, 2, tensor_parallel)
    sampler = 2 * max_num_seqs * spec.vocab_size * 4
    encoder = vision_encoder_bytes(spec)
    peak = int(max(forward, sampler, encoder) * VLLM_PROFILE_MARGIN)
    image = (
        f", vision encoder one {spec.vision.tokens_per_image:,}-token image = "
        f"{spec.vision.patches_per_image:,} patches × ({spec.vision.mlp_tensors}·"
        f"{spec.vision.intermediate_size} + 4·{spec.vision.hidden_size}) × 2 B + its "
        f"embeddings = {encoder / 2**20:,.0f} MiB"
        if spec.vision is not None
        else ""
    )
    return peak, (
        f"{VLLM_PROFILE_MARGIN} × max(forward {max_num_batched_tokens} tokens × "
        f"(3·{mlp_intermediate(spec, tensor_parallel)} + 4·{spec.hidden_size}) × 2 B = "
        f"{forward / 2**20:,.0f} MiB, sampler 2 × {max_num_seqs} seqs × {spec.vocab_size} × 4 B = "
        f"{sampler / 2**20:,.0f} MiB{image})"
    )
