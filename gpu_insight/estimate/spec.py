"""`ModelSpec`: the architecture facts the memory model needs, parsed from a config.json.

`from_hf_config` reads any Hugging Face causal-LM config (Llama, Qwen, Mistral/Mixtral, Gemma 2/3
with `text_config` nesting, Phi-3/4, DeepSeek V2/V3 MLA, GLM's `num_layers` /
`multi_query_group_num` / `kv_channels` / `padded_vocab_size` / `seq_length`, InternLM2) and
BERT/XLM-R encoders used as embedding or rerank models. A missing or malformed field raises
`SpecError` naming the field and the names accepted for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gpu_insight.errors import InputError

ModelKind = Literal["causal", "embedding", "rerank"]
LayerType = Literal["full", "sliding"]

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
}


class SpecError(InputError):
    """The config cannot describe a model; the message names the field and what is accepted."""


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
    layer_types: tuple[LayerType, ...]
    sliding_window: int | None = None
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
    # Encoders: learnt position and token-type embeddings.
    type_vocab_size: int = 0
    vision_params: int = 0
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
    def sliding_layers(self) -> int:
        return sum(1 for t in self.layer_types if t == "sliding")

    @property
    def full_layers(self) -> int:
        return self.num_layers - self.sliding_layers


def from_hf_config(config: Mapping[str, Any], name: str = "model_config") -> ModelSpec:
    """Build a spec from a config.json mapping; raises `SpecError` with the field at fault."""
    if not isinstance(config, Mapping):
        raise SpecError(
            f"{name}: expected a JSON object (config.json), got {type(config).__name__}"
        )
    top = dict(config)
    text = top.get("text_config")
    merged: dict[str, Any] = {**top, **text} if isinstance(text, Mapping) else top
    model_type = str(merged.get("model_type") or top.get("model_type") or "")
    architectures = [str(a) for a in top.get("architectures") or []]
    encoder = model_type in ENCODER_MODEL_TYPES
    kind: ModelKind = "causal"
    if encoder:
        kind = (
            "rerank"
            if any(a.endswith("ForSequenceClassification") for a in architectures)
            else ("embedding")
        )

    layers = _positive(merged, "num_layers", name)
    hidden = _positive(merged, "hidden_size", name)
    heads = _positive(merged, "num_attention_heads", name)
    kv_heads = _positive(merged, "num_kv_heads", name, default=heads)
    if merged.get("multi_query_attention") is False:
        kv_heads = heads
    if heads % kv_heads:
        raise SpecError(
            f"{name}: num_attention_heads ({heads}) must be a multiple of num_key_value_heads "
            f"({kv_heads})"
        )
    head_dim = _positive(merged, "head_dim", name, default=hidden // heads)
    vocab = _positive(merged, "vocab_size", name)
    max_pos = _positive(merged, "max_position_embeddings", name)
    num_experts = _positive(merged, "num_experts", name, default=0, allow_zero=True)
    moe_intermediate = int(merged.get("moe_intermediate_size") or 0)
    intermediate = _positive(
        merged, "intermediate_size", name, default=moe_intermediate if num_experts else None
    )
    if num_experts and not moe_intermediate:
        moe_intermediate = intermediate
    shared = int(merged.get("shared_expert_intermediate_size") or 0)
    shared += int(merged.get("n_shared_experts") or 0) * moe_intermediate
    dense_layers = int(merged.get("first_k_dense_replace") or 0)
    dense_layers += len(merged.get("mlp_only_layers") or [])
    if num_experts and dense_layers > layers:
        raise SpecError(f"{name}: first_k_dense_replace ({dense_layers}) exceeds the layer count")

    sliding_window = merged.get("sliding_window")
    sliding_window = int(sliding_window) if isinstance(sliding_window, int | float) else None
    quant = top.get("quantization_config") or merged.get("quantization_config")
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
        layer_types=_layer_types(merged, model_type, layers, sliding_window, max_pos),
        sliding_window=sliding_window,
        num_experts=num_experts,
        experts_per_token=int(merged.get("num_experts_per_tok") or merged.get("top_k") or 0),
        moe_intermediate_size=moe_intermediate if num_experts else 0,
        shared_expert_intermediate_size=shared if num_experts else 0,
        dense_layers=dense_layers if num_experts else 0,
        kv_lora_rank=int(merged.get("kv_lora_rank") or 0),
        q_lora_rank=int(merged.get("q_lora_rank") or 0),
        qk_rope_head_dim=int(merged.get("qk_rope_head_dim") or 0),
        qk_nope_head_dim=int(merged.get("qk_nope_head_dim") or 0),
        v_head_dim=int(merged.get("v_head_dim") or 0),
        type_vocab_size=int(merged.get("type_vocab_size") or 0) if encoder else 0,
        vision_params=_vision_params(top.get("vision_config")),
        torch_dtype=str(
            top.get("torch_dtype") or top.get("dtype") or merged.get("torch_dtype") or "bfloat16"
        ),
        checkpoint_quantization=_quantization(quant),
    )


# Families whose configs omit these flags but whose code applies them.
_TIED_DEFAULT = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text", "bert", "xlm-roberta"})
_QKV_BIAS = frozenset({"qwen2", "qwen2_moe", "qwen2_vl", "bert", "xlm-roberta", "roberta"})


def _positive(
    config: Mapping[str, Any],
    field: str,
    name: str,
    default: int | None = None,
    allow_zero: bool = False,
) -> int:
    names = ALIASES.get(field, (field,))
    value = next((config[n] for n in names if config.get(n) is not None), default)
    accepted = " or ".join(names)
    if value is None:
        raise SpecError(f"{name}: missing field '{names[0]}' (accepted names: {accepted})")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise SpecError(f"{name}: '{names[0]}' must be a whole number, got {value!r}")
    if int(value) < 0 or (int(value) == 0 and not allow_zero):
        raise SpecError(f"{name}: '{names[0]}' must be positive, got {value!r}")
    return int(value)


def _layer_types(
    config: Mapping[str, Any],
    model_type: str,
    layers: int,
    window: int | None,
    max_pos: int,
) -> tuple[LayerType, ...]:
    """Which layers attend over a sliding window (their KV holds at most `window` tokens)."""
    declared = config.get("layer_types")
    if isinstance(declared, list) and declared:
        if len(declared) != layers:
            raise SpecError(
                f"layer_types has {len(declared)} entries but the model has {layers} layers"
            )
        return tuple(
            "sliding" if "sliding" in str(t) or "chunked" in str(t) else "full" for t in declared
        )
    if not window or window >= max_pos or config.get("use_sliding_window") is False:
        return ("full",) * layers
    pattern = config.get("sliding_window_pattern")
    if isinstance(pattern, int) and pattern > 0:
        return tuple("full" if (i + 1) % pattern == 0 else "sliding" for i in range(layers))
    if model_type == "gemma2":  # local and global layers alternate, local first
        return tuple("sliding" if i % 2 == 0 else "full" for i in range(layers))
    return ("sliding",) * layers


def _vision_params(vision: Any) -> int:
    """ViT encoder (SigLIP/CLIP style) parameters, counted in full at 16 bits."""
    if not isinstance(vision, Mapping):
        return 0
    h = int(vision.get("hidden_size") or 0)
    inter = int(vision.get("intermediate_size") or 0)
    depth = int(vision.get("num_hidden_layers") or 0)
    patch = int(vision.get("patch_size") or 14)
    image = int(vision.get("image_size") or 224)
    channels = int(vision.get("num_channels") or 3)
    per_layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h
    positions = (image // patch) ** 2 * h
    return depth * per_layer + channels * patch * patch * h + h + positions + 2 * h


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
