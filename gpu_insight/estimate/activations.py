"""Transient activation memory of a forward pass, per engine.

Hugging Face transformers prefill (bf16), measured on an H100: tokens × (3·I + 4·h) × 2 B (the
gated MLP's three intermediate tensors, four when one fused gate_up projection stays alive, and a
few hidden-size buffers), plus cuBLAS's workspace. Once a sliding window cuts in, transformers
also builds one boolean Q × K mask, and each sliding layer's SDPA call copies it to an additive
bf16 mask per sequence (see `sliding_mask_bytes` and `masked_attention_bytes`).

vLLM 0.24 profiles one forward of `max_num_batched_tokens` and then samples one row per dummy
request (v1/worker/gpu_model_runner.py and gpu/model_runner.py `profile_run`); after the KV cache
is allocated it warms up again, and torch's cache keeps that warm-up's peak. Bytes per logit row
element were measured on an H200 (bench/results/engine_validation-2026-12-01-h200.json), the
forward and MoE terms follow the tensors the code allocates. A multimodal model's profile run
also encodes one largest image (`vision_encoder_bytes`).
"""

from __future__ import annotations

from gpu_insight.engines.vllm import ModelRunner
from gpu_insight.estimate.spec import ModelSpec

CUBLAS_WORKSPACE_BYTES = 32 * 2**20  # torch's default on Hopper: 8 chunks of 4 MiB
GATED_MLP_TENSORS = 3  # gate, up and act(gate) · up are alive together
# Phi3MLP / GlmMLP / ChatGLM's dense_h_to_4h: one gate_up projection of width 2·I, chunked into
# views, stays alive while act(gate) and the product are computed: 4 tensors of width I.
FUSED_GATE_UP_MODEL_TYPES = frozenset({"phi3", "glm", "glm4", "chatglm"})
# Bytes per logit (sampled rows × vocabulary) at the peak of vLLM's profiled sampler run. V1
# samples with top-k and top-p (`_dummy_sampler_run`: fp32 logits and the top-k/top-p pass's
# buffers): 15.1 B, fitted from gemma-3 against Qwen2.5-0.5B. V2 copies the 16-bit logits to
# fp32 (gpu/sample/sampler.py `apply_sampling_params`): 6 B in the code, 7.4 B measured (Llama
# against Qwen3). V1's warm-up re-runs the same sampler; V2's warm-up samples with every
# feature on (gpu/warmup.py), and torch's cache keeps 11.2 B.
VLLM_PROFILE_SAMPLER_BYTES: dict[ModelRunner, float] = {"v1": 15.1, "v2": 7.4}
VLLM_WARMUP_SAMPLER_BYTES: dict[ModelRunner, float] = {"v1": 15.1, "v2": 11.2}


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


def vllm_forward_bytes(spec: ModelSpec, tokens: int, tensor_parallel: int = 1) -> int:
    """vLLM's compiled forward peaks in one layer's MLP: the gate_up output (2·I), the
    activation's output (I) and the residual stream (h), in the model's 16 bits."""
    return tokens * (3 * mlp_intermediate(spec, tensor_parallel) + spec.hidden_size) * 2


def vllm_moe_workspace_bytes(spec: ModelSpec, tokens: int, tensor_parallel: int = 1) -> int:
    """Fused-MoE intermediates per token and routed expert (gate_up 2·I, activation I, down
    output h, 16 bits); vLLM's workspace manager keeps them once the profile run made them
    (v1/worker/workspace.py), so they count in its profiled peak and stay in the process."""
    if not spec.is_moe:
        return 0
    width = 3 * spec.moe_intermediate_size // tensor_parallel + spec.hidden_size
    return tokens * spec.experts_per_token * width * 2


def vllm_sampler_bytes(spec: ModelSpec, rows: int, bytes_per_logit: float) -> int:
    """One sampling pass over `rows` × vocabulary logits."""
    return int(rows * spec.vocab_size * bytes_per_logit)
