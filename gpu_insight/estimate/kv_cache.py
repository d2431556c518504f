"""KV-cache bytes: GQA/MQA, explicit head_dim, sliding-window layers, MLA, KV dtype, TP split.

Standard attention stores K and V per layer: 2 × kv_heads × head_dim elements per token. Under
tensor parallelism each GPU holds max(1, kv_heads // TP) heads, so TP beyond the KV-head count
replicates them. MLA (DeepSeek) stores one latent of kv_lora_rank + qk_rope_head_dim per token
and layer, replicated on every TP rank. Sliding-window layers hold at most their window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from gpu_insight.estimate.spec import ModelSpec

KvCacheDtype = Literal["auto", "bf16", "fp16", "fp32", "fp8", "q8_0", "q4_0"]
KV_CACHE_DTYPES: tuple[KvCacheDtype, ...] = get_args(KvCacheDtype)
# Under 16 bits: an engine must be told (and have) these; the others follow the model's dtype.
QUANTIZED_KV_DTYPES = frozenset({"fp8", "q8_0", "q4_0"})
# Bytes per element; q8_0 / q4_0 are llama.cpp blocks of 32 with an fp16 scale.
KV_ELEMENT_BYTES: dict[str, float] = {
    "bf16": 2.0,
    "fp16": 2.0,
    "fp32": 4.0,
    "fp8": 1.0,
    "q8_0": 34 / 32,
    "q4_0": 18 / 32,
}


@dataclass(frozen=True)
class KvLayout:
    """Per-GPU KV geometry: bytes one token adds in one layer, and how layers hold tokens."""

    bytes_per_token_layer: float
    full_layers: int
    sliding_layers: int
    window: int | None
    kv_heads_per_gpu: int
    replicated: bool  # TP > KV heads (or MLA): the same heads live on several GPUs
    explanation: str

    @property
    def bytes_per_token(self) -> float:
        """All layers at full length: the usual "KV per token" figure."""
        return self.bytes_per_token_layer * (self.full_layers + self.sliding_layers)

    def sequence_bytes(self, tokens: int, window_slack: int = 0) -> float:
        """One sequence of `tokens`; sliding layers keep min(tokens, window - window_slack)."""
        held = tokens if self.window is None else min(tokens, self.window - window_slack)
        return self.bytes_per_token_layer * (self.full_layers * tokens + self.sliding_layers * held)


def kv_element_bytes(kv_dtype: KvCacheDtype, compute_dtype_bytes: int) -> float:
    return float(compute_dtype_bytes) if kv_dtype == "auto" else KV_ELEMENT_BYTES[kv_dtype]


def kv_layout(
    spec: ModelSpec,
    element_bytes: float,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    honour_sliding_window: bool = True,
) -> KvLayout:
    """KV geometry on one GPU; pipeline stages split the layers (the largest stage counts)."""
    full, sliding = spec.full_layers, spec.sliding_layers
    if not honour_sliding_window:
        full, sliding = spec.num_layers, 0
    full, sliding = -(-full // pipeline_parallel), -(-sliding // pipeline_parallel)
    window = spec.sliding_window if sliding else None
    if not spec.has_kv_cache:
        return KvLayout(0.0, 0, 0, None, 0, False, "encoder model: no KV cache")
    if spec.is_mla:
        latent = spec.kv_lora_rank + spec.qk_rope_head_dim
        return KvLayout(
            latent * element_bytes,
            full,
            sliding,
            window,
            1,
            tensor_parallel > 1,
            f"MLA latent ({spec.kv_lora_rank} + {spec.qk_rope_head_dim}) × {element_bytes:g} B "
            f"per layer, same on every TP rank",
        )
    heads = max(1, spec.num_kv_heads // tensor_parallel)
    per_layer = 2 * heads * spec.head_dim * element_bytes
    return KvLayout(
        per_layer,
        full,
        sliding,
        window,
        heads,
        tensor_parallel > spec.num_kv_heads,
        f"2 (K,V) × {heads} KV heads × {spec.head_dim} head_dim × {element_bytes:g} B per layer",
    )
