"""`ModelSpec`: the architecture facts the memory model needs, parsed from a config.json.

`from_hf_config` reads any Hugging Face causal-LM config (Llama, Qwen, Mistral/Mixtral, Gemma 2/3
with `text_config` nesting, Phi-3/4, DeepSeek V2/V3 MLA, GLM's `num_layers` /
`multi_query_group_num` / `kv_channels` / `padded_vocab_size` / `seq_length`, InternLM2,
gpt-oss's sinks and expert biases, Llama 4's chunked attention and interleaved MoE,
Qwen3-Next's Gated DeltaNet layers, DeepSeek V3.2's indexer), vision towers
(`estimate.vision`), and BERT/XLM-R encoders used as embedding or rerank models. A missing or
malformed field, or a number beyond what real models have (`LIMITS`), raises `InputError`
naming the field and what is accepted. The spec holds counts, never a list per layer, so its
cost does not grow with the layer count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gpu_insight.errors import InputError, quoted
from gpu_insight.estimate.vision import VisionSpec, vision_spec

ModelKind = Literal["causal", "embedding", "rerank"]

ENCODER_MODEL_TYPES = frozenset({"bert", "xlm-roberta", "roberta", "nomic_bert", "distilbert"})
# Names under which configs spell the same fact, first wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "num_layers": ("num_hidden_layers", "num_layers", "n_layer", "n_layers"),
    "hidden_size": ("hidden_size", "d_model", "n_embd", "dim"),
    "num_attention_heads": ("num_attention_heads", "n_head", "n_heads"),
    "num_kv_heads": ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"),
    "head_dim": ("head_dim", "kv_channels"),
    "intermediate_size": ("intermediate_size", "ffn_hidden_size", "inter_dim", "n_inner"),
    "vocab_size": ("padded_vocab_size", "vocab_size"),
    "max_position_embeddings": (
        "max_position_embeddings",
        "seq_length",
        "max_sequence_length",
        "n_positions",
    ),
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"),
    "experts_per_token": ("num_experts_per_tok", "top_k"),
}
MAX_CONTEXT_TOKENS = 16 * 2**20
# The largest value of each number a real model's config has, with room (Llama-4 Scout has a
# 10,485,760-token context, Kimi K2 384 experts, Llama-3.1-405B 126 layers and a 53,248 MLP):
# past these a number is a typo, and arithmetic over it would only make absurd answers.
LIMITS: dict[str, int] = {
    "num_layers": 1_000,
    "hidden_size": 65_536,
    "num_attention_heads": 1_024,
    "num_kv_heads": 1_024,
    "head_dim": 4_096,
    "intermediate_size": 262_144,
    "vocab_size": 10_000_000,
    "max_position_embeddings": MAX_CONTEXT_TOKENS,
    "num_experts": 1_024,
    "experts_per_token": 1_024,
    "moe_intermediate_size": 262_144,
    "shared_expert_intermediate_size": 262_144,
    "n_shared_experts": 1_024,
    "first_k_dense_replace": 1_000,
    "sliding_window": MAX_CONTEXT_TOKENS,
    "sliding_window_pattern": 1_000,
    "kv_lora_rank": 65_536,
    "q_lora_rank": 65_536,
    "qk_rope_head_dim": 65_536,
    "qk_nope_head_dim": 65_536,
    "v_head_dim": 65_536,
    "type_vocab_size": 1_024,
    "patch_size": 1_024,
    "image_size": 65_536,
    "num_channels": 64,
    "depth": 1_000,
    "out_hidden_size": 65_536,
    "temporal_patch_size": 64,
    "spatial_merge_size": 64,
    "num_position_embeddings": 1_000_000,
    "mm_tokens_per_image": 1_000_000,
    "attention_chunk_size": MAX_CONTEXT_TOKENS,
    "interleave_moe_layer_step": 1_000,
    "intermediate_size_mlp": 262_144,
    "no_rope_layer_interval": 1_000,
    "full_attention_interval": 1_000,
    "linear_num_key_heads": 1_024,
    "linear_num_value_heads": 1_024,
    "linear_key_head_dim": 4_096,
    "linear_value_head_dim": 4_096,
    "linear_conv_kernel_dim": 64,
    "index_head_dim": 4_096,
    "index_n_heads": 1_024,
}


class ModelSpec(BaseModel):
    """Architecture of one model. Sizes are element counts; `head_dim` is per head."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: ModelKind = "causal"
    model_type: str = ""
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    max_position_embeddings: int
    qkv_bias: bool = False
    sliding_layers: int = 0  # layers that attend over `sliding_window` tokens only
    sliding_window: int | None = None
    # Llama 4: layers that attend within chunks of `attention_chunk_size` tokens.
    chunked_layers: int = 0
    attention_chunk_size: int | None = None
    # Gated DeltaNet layers (Qwen3-Next): no KV cache, a fixed recurrent state per sequence.
    linear_layers: int = 0
    linear_num_key_heads: int = 0
    linear_num_value_heads: int = 0
    linear_key_head_dim: int = 0
    linear_value_head_dim: int = 0
    linear_conv_kernel_dim: int = 0
    attention_output_gate: bool = False  # q_proj also yields a sigmoid gate per head
    o_bias: bool = False  # the attention output projection has a bias
    attention_sinks: bool = False  # one learnt sink logit per head and layer (gpt-oss)
    expert_bias: bool = False  # expert and router Linears carry biases (gpt-oss)
    # Mixture of experts: `dense_layers` leading layers keep a dense MLP (DeepSeek).
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    dense_layers: int = 0
    # Multi-head latent attention (DeepSeek V2/V3): the KV cache holds one latent per token.
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    # DeepSeek V3.2's lightning indexer: one key of index_head_dim per token and layer.
    index_head_dim: int = 0
    index_n_heads: int = 0
    # Encoders: learnt position and token-type embeddings.
    type_vocab_size: int = 0
    vision: VisionSpec | None = None
    torch_dtype: str = "bfloat16"
    checkpoint_quantization: str | None = None

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def has_kv_cache(self) -> bool:
        return self.kind == "causal"

    @property
    def is_encoder(self) -> bool:
        return self.model_type in ENCODER_MODEL_TYPES

    @property
    def attention_layers(self) -> int:
        """Layers with attention (and a KV cache); the rest are Gated DeltaNet layers."""
        return self.num_layers - self.linear_layers

    @property
    def full_layers(self) -> int:
        return self.attention_layers - self.sliding_layers - self.chunked_layers

    @property
    def vision_params(self) -> int:
        return self.vision.params if self.vision else 0


def from_hf_config(config: Mapping[str, Any], name: str = "model_config") -> ModelSpec:
    """Build a spec from a config.json mapping; raises `InputError` with the field at fault."""
    if not isinstance(config, Mapping):
        raise InputError(
            f"{name}: expected a JSON object (config.json), got {type(config).__name__}"
        )
    top = dict(config)
    text = top.get("text_config")
    merged: dict[str, Any] = {**top, **text} if isinstance(text, Mapping) else top
    model_type = str(merged.get("model_type") or top.get("model_type") or "")
    architectures = _architectures(top, name)
    encoder = model_type in ENCODER_MODEL_TYPES
    kind: ModelKind = "causal"
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        kind = "rerank"
    elif encoder:
        kind = "embedding"

    layers = _whole(merged, "num_layers", name)
    hidden = _whole(merged, "hidden_size", name)
    heads = _whole(merged, "num_attention_heads", name)
    kv_heads = _whole(merged, "num_kv_heads", name, default=heads)
    if merged.get("multi_query_attention") is False:
        kv_heads = heads
    if heads % kv_heads:
        raise InputError(
            f"{name}: num_attention_heads ({heads}) must be a multiple of num_key_value_heads "
            f"({kv_heads})"
        )
    head_dim = _whole(merged, "head_dim", name, default=hidden // heads)
    vocab = _whole(merged, "vocab_size", name)
    max_pos = _whole(merged, "max_position_embeddings", name)
    num_experts = _count(merged, "num_experts", name)
    moe_intermediate = _count(merged, "moe_intermediate_size", name)
    intermediate = _whole(
        merged, "intermediate_size", name, default=moe_intermediate if num_experts else None
    )
    if num_experts and not moe_intermediate:
        moe_intermediate = intermediate
    shared = _count(merged, "shared_expert_intermediate_size", name)
    shared += _count(merged, "n_shared_experts", name) * moe_intermediate
    dense_layers = _count(merged, "first_k_dense_replace", name)
    mlp_only = merged.get("mlp_only_layers") or []
    if not isinstance(mlp_only, list):
        raise InputError(f"{name}: 'mlp_only_layers' must be a list, got {quoted(mlp_only)}")
    dense_layers += len(mlp_only)
    if model_type in _LLAMA4 and num_experts:
        # every step-th layer is MoE with one shared expert; the others a wider dense MLP
        step = _whole(merged, "interleave_moe_layer_step", name, default=1)
        dense_layers = layers - layers // step
        intermediate = _whole(merged, "intermediate_size_mlp", name, default=intermediate)
        shared = moe_intermediate
    if num_experts and dense_layers > layers:
        raise InputError(f"{name}: first_k_dense_replace ({dense_layers}) exceeds the layer count")
    linear = _linear_attention(merged, model_type, layers, name)

    sliding_window = _count(merged, "sliding_window", name) or None
    chunk = _count(merged, "attention_chunk_size", name) or None
    quant = top.get("quantization_config") or merged.get("quantization_config")
    gpt_oss = model_type in _GPT_OSS
    vision = top.get("vision_config")
    return ModelSpec(
        name=name,
        kind=kind,
        model_type=model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=vocab,
        tie_word_embeddings=bool(merged.get("tie_word_embeddings", model_type in _TIED_DEFAULT)),
        max_position_embeddings=max_pos,
        qkv_bias=bool(
            merged.get("attention_bias") or merged.get("add_qkv_bias") or model_type in _QKV_BIAS
        ),
        sliding_layers=_sliding_layers(merged, model_type, layers, sliding_window, max_pos, name),
        sliding_window=sliding_window,
        chunked_layers=_chunked_layers(merged, layers, chunk, name),
        attention_chunk_size=chunk,
        linear_layers=linear,
        linear_num_key_heads=_count(merged, "linear_num_key_heads", name) if linear else 0,
        linear_num_value_heads=_count(merged, "linear_num_value_heads", name) if linear else 0,
        linear_key_head_dim=_count(merged, "linear_key_head_dim", name) if linear else 0,
        linear_value_head_dim=_count(merged, "linear_value_head_dim", name) if linear else 0,
        linear_conv_kernel_dim=_count(merged, "linear_conv_kernel_dim", name) if linear else 0,
        attention_output_gate=model_type in _GATED_ATTENTION,
        o_bias=bool(merged.get("attention_bias")) and model_type in _O_BIAS,
        attention_sinks=gpt_oss,
        expert_bias=gpt_oss,
        num_experts=num_experts,
        experts_per_token=_count(merged, "experts_per_token", name),
        moe_intermediate_size=moe_intermediate if num_experts else 0,
        shared_expert_intermediate_size=shared if num_experts else 0,
        dense_layers=dense_layers if num_experts else 0,
        kv_lora_rank=_count(merged, "kv_lora_rank", name),
        q_lora_rank=_count(merged, "q_lora_rank", name),
        qk_rope_head_dim=_count(merged, "qk_rope_head_dim", name),
        qk_nope_head_dim=_count(merged, "qk_nope_head_dim", name),
        v_head_dim=_count(merged, "v_head_dim", name),
        index_head_dim=_count(merged, "index_head_dim", name),
        index_n_heads=_count(merged, "index_n_heads", name),
        type_vocab_size=_count(merged, "type_vocab_size", name) if encoder else 0,
        vision=_vision(vision, top, hidden, name) if isinstance(vision, Mapping) else None,
        torch_dtype=str(
            top.get("torch_dtype") or top.get("dtype") or merged.get("torch_dtype") or "bfloat16"
        ),
        checkpoint_quantization=_quantization(quant),
    )


# Families whose configs omit these flags but whose code applies them.
_TIED_DEFAULT = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text", "bert", "xlm-roberta"})
_QKV_BIAS = frozenset(
    {"qwen2", "qwen2_moe", "qwen2_vl", "qwen2_5_vl", "bert", "xlm-roberta", "roberta"}
)
# Families whose `attention_bias` also biases the output projection (Qwen's and GLM's bias
# only Q, K and V).
_O_BIAS = frozenset({"llama", "gpt_oss"})
_GPT_OSS = frozenset({"gpt_oss"})
_LLAMA4 = frozenset({"llama4", "llama4_text"})
_GATED_ATTENTION = frozenset({"qwen3_next"})  # Qwen3NextAttention: q_proj → 2 × heads
LLAMA4_NOPE_INTERVAL = 4  # Llama4TextConfig's default: every 4th layer is global, no RoPE


def _whole(
    config: Mapping[str, Any],
    field: str,
    name: str,
    default: int | None = None,
    low: int = 1,
    where: str = "",
) -> int:
    """The field (under any of its names) as a whole number from `low` to its limit."""
    names = ALIASES.get(field, (field,))
    found = next((n for n in names if config.get(n) is not None), None)
    value: Any = config[found] if found is not None else default
    if value is None:
        accepted = " or ".join(names)
        raise InputError(f"{name}: missing field '{where}{names[0]}' (accepted names: {accepted})")
    high = LIMITS[field]
    whole = isinstance(value, int) and not isinstance(value, bool)
    whole = whole or (isinstance(value, float) and value.is_integer())
    if not whole or not low <= value <= high:
        raise InputError(
            f"{name}: '{where}{found or names[0]}' must be a whole number from {low:,} to "
            f"{high:,}, got {quoted(value)}"
        )
    return int(value)


def _architectures(config: Mapping[str, Any], name: str) -> list[str]:
    """The model class names (`["LlamaForCausalLM"]`); absent: none."""
    value = config.get("architectures")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise InputError(
            f"{name}: 'architectures' must be a list of class names such as "
            f'["LlamaForCausalLM"], got {quoted(value)}',
            parameter="architectures",
        )
    return value


def _count(config: Mapping[str, Any], field: str, name: str, where: str = "") -> int:
    """An optional number that may be zero (absent: 0)."""
    return _whole(config, field, name, default=0, low=0, where=where)


def _sliding_layers(
    config: Mapping[str, Any],
    model_type: str,
    layers: int,
    window: int | None,
    max_pos: int,
    name: str,
) -> int:
    """How many layers attend over a sliding window (their KV holds at most `window` tokens),
    counted from the config's pattern."""
    declared = config.get("layer_types")
    if isinstance(declared, list) and declared:
        if len(declared) != layers:
            raise InputError(
                f"layer_types has {len(declared)} entries but the model has {layers} layers"
            )
        return sum(1 for t in declared if "sliding" in str(t))
    if not window or window >= max_pos or config.get("use_sliding_window") is False:
        return 0
    pattern = _count(config, "sliding_window_pattern", name)
    if pattern:
        return layers - layers // pattern  # every pattern-th layer attends globally
    if model_type == "gemma2":  # local and global layers alternate, local first
        return (layers + 1) // 2
    return layers


def _chunked_layers(config: Mapping[str, Any], layers: int, chunk: int | None, name: str) -> int:
    """Llama 4's RoPE layers attend within chunks (`no_rope_layers` marks them 1); the NoPE
    layers attend globally."""
    if not chunk:
        return 0
    declared = config.get("layer_types")
    if isinstance(declared, list) and declared:
        return sum(1 for t in declared if "chunked" in str(t))
    marks = config.get("no_rope_layers")
    if isinstance(marks, list) and marks:
        if len(marks) != layers:
            raise InputError(f"{name}: no_rope_layers has {len(marks)} entries for {layers} layers")
        return sum(1 for m in marks if m)
    interval = _whole(config, "no_rope_layer_interval", name, default=LLAMA4_NOPE_INTERVAL)
    return layers - layers // interval


def _linear_attention(config: Mapping[str, Any], model_type: str, layers: int, name: str) -> int:
    """Gated DeltaNet layers: `layer_types` says "linear_attention", or every
    full_attention_interval-th layer is the only one with attention."""
    declared = config.get("layer_types")
    if isinstance(declared, list) and declared:
        return sum(1 for t in declared if str(t) == "linear_attention")
    if model_type not in _GATED_ATTENTION:
        return 0
    interval = _whole(config, "full_attention_interval", name, default=4)
    return layers - layers // interval


def _vision(
    vision: Mapping[str, Any], top: Mapping[str, Any], text_hidden: int, name: str
) -> VisionSpec:
    def count(config: Mapping[str, Any], field: str, default: int) -> int:
        where = "" if config is top else "vision_config."
        return _whole(config, field, name, default=default, low=0, where=where)

    return vision_spec(vision, top, text_hidden, count)


def _quantization(quant: Any) -> str | None:
    if not isinstance(quant, Mapping):
        return None
    method = str(quant.get("quant_method") or "").lower()
    if method == "bitsandbytes":
        return "nf4" if quant.get("load_in_4bit") else "int8"
    if method in {"awq", "gptq", "fp8"}:
        return method
    if method == "compressed-tensors":
        return "fp8" if "float" in str(quant).lower() else "int8"
    return method or None
