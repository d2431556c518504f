"""KV-cache bytes: GQA/MQA, explicit head_dim, sliding-window and chunked layers, MLA (with
DeepSeek V3.2's indexer keys), recurrent state, KV dtype, TP split.

Standard attention stores K and V per layer: 2 × kv_heads × head_dim elements per token. Under
tensor parallelism each GPU holds max(1, kv_heads // TP) heads, so TP beyond the KV-head count
replicates them. MLA (DeepSeek) stores one latent of kv_lora_rank + qk_rope_head_dim per token
and layer, replicated on every TP rank; V3.2's lightning indexer adds one FP8 key of
index_head_dim and its fp32 scale per token and layer (vLLM's indexer cache). Sliding-window
layers hold at most their window, Llama 4's chunked layers at most one chunk. Gated DeltaNet
layers (Qwen3-Next) hold no KV: each sequence keeps a fixed recurrent state, the causal conv's
last kernel − 1 inputs and one key × value matrix per value head, split over TP like the heads.
A paged pool (vLLM) stores tokens in blocks and groups local and global layers: `PagedKv`.
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
INDEXER_SCALE_BYTES = 4  # one fp32 scale per FP8 indexer key


@dataclass(frozen=True)
class KvLayout:
    """Per-GPU KV geometry: bytes one token adds in one layer, how layers hold tokens, and the
    recurrent state every sequence keeps whatever its length."""

    bytes_per_token_layer: float
    full_layers: int
    sliding_layers: int
    window: int | None
    kv_heads_per_gpu: int
    replicated: bool  # TP > KV heads (or MLA): the same heads live on several GPUs
    explanation: str
    chunked_layers: int = 0
    chunk: int | None = None
    state_bytes: float = 0.0  # per sequence
    state_explanation: str = ""

    @property
    def layers(self) -> int:
        return self.full_layers + self.sliding_layers + self.chunked_layers

    @property
    def bytes_per_token(self) -> float:
        """All layers at full length: the usual "KV per token" figure."""
        return self.bytes_per_token_layer * self.layers

    def sequence_bytes(self, tokens: int, window_slack: int = 0) -> float:
        """One sequence of `tokens`; sliding layers keep min(tokens, window - window_slack),
        chunked layers min(tokens, chunk); plus its recurrent state."""
        held = tokens if self.window is None else min(tokens, self.window - window_slack)
        chunked = tokens if self.chunk is None else min(tokens, self.chunk)
        per_layer = (
            self.full_layers * tokens + self.sliding_layers * held + self.chunked_layers * chunked
        )
        return self.bytes_per_token_layer * per_layer + self.state_bytes

    def tokens_held(self, pool_bytes: float, sequences: int) -> int:
        """Tokens a pool of `pool_bytes` holds at all layers' full length, as engines report
        their KV cache size, once `sequences` recurrent states are set aside."""
        if not self.bytes_per_token:
            return 0
        return int(max(pool_bytes - sequences * self.state_bytes, 0) // self.bytes_per_token)


def kv_element_bytes(kv_dtype: KvCacheDtype, compute_dtype_bytes: int) -> float:
    return float(compute_dtype_bytes) if kv_dtype == "auto" else KV_ELEMENT_BYTES[kv_dtype]


def recurrent_state_elements(spec: ModelSpec, tensor_parallel: int = 1) -> int:
    """One sequence's Gated DeltaNet state in one layer on one GPU: conv (kernel − 1) × the
    q, k, v channels, and value heads × key dim × value dim."""
    keys = spec.linear_num_key_heads * spec.linear_key_head_dim
    values = spec.linear_num_value_heads * spec.linear_value_head_dim
    conv = (spec.linear_conv_kernel_dim - 1) * (2 * keys + values)
    ssm = spec.linear_num_value_heads * spec.linear_key_head_dim * spec.linear_value_head_dim
    return (conv + ssm) // tensor_parallel


def kv_layout(
    spec: ModelSpec,
    element_bytes: float,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    honour_sliding_window: bool = True,
    state_element_bytes: float = 2.0,
) -> KvLayout:
    """KV geometry on one GPU; pipeline stages split the layers (the largest stage counts).
    The recurrent state keeps the model's dtype (`state_element_bytes`) whatever the KV type."""
    full, sliding, chunked = spec.full_layers, spec.sliding_layers, spec.chunked_layers
    if not honour_sliding_window:
        full, sliding, chunked = spec.attention_layers, 0, 0
    full, sliding, chunked = (-(-n // pipeline_parallel) for n in (full, sliding, chunked))
    window = spec.sliding_window if sliding else None
    chunk = spec.attention_chunk_size if chunked else None
    if not spec.has_kv_cache:
        return KvLayout(0.0, 0, 0, None, 0, False, "encoder model: no KV cache")
    linear = -(-spec.linear_layers // pipeline_parallel)
    state = linear * recurrent_state_elements(spec, tensor_parallel) * state_element_bytes
    state_text = (
        f"{linear} Gated DeltaNet layers × {recurrent_state_elements(spec, tensor_parallel):,} "
        f"state elements × {state_element_bytes:g} B"
        if linear
        else ""
    )
    if spec.is_mla:
        latent = spec.kv_lora_rank + spec.qk_rope_head_dim
        indexer = spec.index_head_dim + INDEXER_SCALE_BYTES if spec.index_head_dim else 0
        indexer_text = (
            f" + indexer key {spec.index_head_dim} × 1 B + {INDEXER_SCALE_BYTES} B scale"
            if indexer
            else ""
        )
        return KvLayout(
            latent * element_bytes + indexer,
            full,
            sliding,
            window,
            1,
            tensor_parallel > 1,
            f"MLA latent ({spec.kv_lora_rank} + {spec.qk_rope_head_dim}) × {element_bytes:g} B"
            f"{indexer_text} per layer, same on every TP rank",
            chunked,
            chunk,
            state,
            state_text,
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
        chunked,
        chunk,
        state,
        state_text,
    )


@dataclass(frozen=True)
class PagedKv:
    """A KV pool of fixed-size blocks (vLLM's): each block is one page in each of
    `group_layers` layer slots; a group of global layers holds every block of a sequence, a
    group of sliding-window layers only the blocks its window and one prefill chunk span
    (v1/kv_cache_interface.py `max_admission_blocks_per_request`)."""

    page_bytes: float  # one block of one layer
    block_tokens: int
    group_layers: int
    full_groups: int
    sliding_groups: int
    window: int | None
    state_bytes: float = 0.0  # the recurrent state each sequence keeps beside its blocks

    @property
    def block_bytes(self) -> float:
        return self.page_bytes * self.group_layers

    def blocks_per_sequence(self, tokens: int, chunk_tokens: int) -> int:
        full = -(-tokens // self.block_tokens) * self.full_groups
        if not self.sliding_groups or self.window is None:
            return full
        held = min(self.window - 1 + chunk_tokens, tokens)
        # +1: the window need not start on a block boundary
        return full + (-(-held // self.block_tokens) + 1) * self.sliding_groups


def paged_kv(layout: KvLayout, block_tokens: int, group_spread: float) -> PagedKv:
    """Blocks of `block_tokens`; global and local layers in groups of the smaller layer count,
    or of the larger one when it is under `group_spread` × the smaller (the last group of a
    kind padded). Chunked-attention layers are local layers whose window is the chunk (no
    model has both), an estimate: vLLM's own chunked spec was not measured."""
    full = layout.full_layers
    sliding = layout.sliding_layers + layout.chunked_layers
    if full and sliding:
        small, large = sorted((full, sliding))
        group = large if large < group_spread * small else small
    else:
        group = full + sliding
    return PagedKv(
        page_bytes=layout.bytes_per_token_layer * block_tokens,
        block_tokens=block_tokens,
        group_layers=group,
        full_groups=-(-full // group) if group else 0,
        sliding_groups=-(-sliding // group) if group else 0,
        window=layout.window or layout.chunk,
        state_bytes=layout.state_bytes,
    )
