"""Parameter counts from a spec, and weight bytes per storage format.

Quantized formats apply to the Linear layers of the transformer blocks only; embeddings, the
lm_head, norms, biases, MoE routers and any vision tower stay 16-bit (as AWQ, GPTQ, FP8 and
bitsandbytes checkpoints store them). GGUF sizes use the whole-file average bits per parameter
of llama.cpp's own size table, since GGUF mixes quantize the embedding and output too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from gpu_insight.estimate.checkpoint import GGML_TYPES
from gpu_insight.estimate.spec import ModelSpec

WeightFormat = Literal[
    "bf16",
    "fp16",
    "fp32",
    "fp8",
    "int8",
    "awq",
    "gptq",
    "nf4",
    "q8_0",
    "q6_k",
    "q5_k_m",
    "q4_k_m",
    "q4_k_s",
    "q4_0",
    "iq4_xs",
]
WEIGHT_FORMATS: tuple[WeightFormat, ...] = get_args(WeightFormat)
# Formats a checkpoint is stored in and served as it is (MXFP4: gpt-oss's experts).
CHECKPOINT_FORMATS = frozenset({"fp8", "awq", "gptq", "nf4", "int8", "mxfp4"})
GGUF_FORMATS: frozenset[str] = frozenset(
    {"q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_k_s", "q4_0", "iq4_xs"}
)
# Whole-file bits per parameter: llama.cpp quantize size table for Llama-3-8B (8.03 B params),
# size × 2^33 / params; IQ4_XS is its listed block rate.
GGUF_BITS_PER_PARAM: dict[str, float] = {
    "q8_0": 8.52,
    "q6_k": 6.57,
    "q5_k_m": 5.70,
    "q4_k_m": 4.90,
    "q4_k_s": 4.67,
    "q4_0": 4.64,
    "iq4_xs": 4.25,
}
# The ggml type llama-quantize gives the token embedding in each GGUF type, untied and tied
# (llama-quant.cpp llama_tensor_get_type): an untied embedding keeps the mix's base type; a tied
# one, the output matrix as well, takes the output's: Q6_K, or Q8_0 in a Q8_0 file.
GGUF_EMBEDDING_TYPES: dict[str, tuple[str, str]] = {
    "q8_0": ("Q8_0", "Q8_0"),
    "q6_k": ("Q6_K", "Q6_K"),
    "q5_k_m": ("Q5_K", "Q6_K"),
    "q4_k_m": ("Q4_K", "Q6_K"),
    "q4_k_s": ("Q4_K", "Q6_K"),
    "q4_0": ("Q4_0", "Q6_K"),
    "iq4_xs": ("IQ4_XS", "Q6_K"),
}
INT4_GROUP_SIZE = 128
NF4_BLOCK = 64
NF4_SECOND_BLOCK = 256
MXFP4_BLOCK = 32  # OCP microscaling: 32 E2M1 values share one 8-bit exponent
ROUTED_EXPERTS = "experts"  # the LinearGroup name of routed expert MLPs
GGML_BLOCKS = {name: (block, block_bytes) for name, block, block_bytes in GGML_TYPES.values()}


@dataclass(frozen=True)
class LinearGroup:
    """`count` Linear layers of shape in_features × out_features (per layer × per expert)."""

    name: str
    in_features: int
    out_features: int
    count: int

    @property
    def params(self) -> int:
        return self.in_features * self.out_features * self.count


@dataclass(frozen=True)
class ParameterCount:
    embedding: int
    lm_head: int
    linears: tuple[LinearGroup, ...]
    other: int  # norms, biases, routers, position embeddings, pooler, vision tower
    active_linear: int  # Linear parameters one token passes through (MoE: routed top-k only)

    @property
    def linear(self) -> int:
        return sum(g.params for g in self.linears)

    @property
    def total(self) -> int:
        return self.embedding + self.lm_head + self.linear + self.other

    @property
    def active(self) -> int:
        return self.embedding + self.lm_head + self.active_linear + self.other


@dataclass(frozen=True)
class WeightBytes:
    total_bytes: int
    linear_bytes: int
    unquantized_bytes: int
    bits_per_param: float
    explanation: str


def parameter_count(spec: ModelSpec) -> ParameterCount:
    """Counts from the architecture (research §2.1), matching official sizes to about 1 %."""
    h, layers = spec.hidden_size, spec.num_layers
    groups: list[LinearGroup] = []
    if spec.is_encoder:
        return _encoder_count(spec)
    groups.extend(_attention_groups(spec))
    groups.extend(_linear_attention_groups(spec))
    dense_layers = spec.dense_layers if spec.is_moe else layers
    other = layers * 2 * h + h  # two RMSNorms per block and the final norm
    other += _attention_extras(spec) + _linear_attention_extras(spec)
    active = sum(g.params for g in groups)
    if dense_layers:
        dense = _mlp(h, spec.intermediate_size, dense_layers, "mlp")
        groups.extend(dense)
        active += sum(g.params for g in dense)
    if spec.is_moe:
        moe_layers = layers - spec.dense_layers
        experts = _mlp(h, spec.moe_intermediate_size, moe_layers * spec.num_experts, ROUTED_EXPERTS)
        groups.extend(experts)
        active += sum(g.params for g in experts) * spec.experts_per_token // spec.num_experts
        if spec.shared_expert_intermediate_size:
            shared = _mlp(h, spec.shared_expert_intermediate_size, moe_layers, "shared_experts")
            groups.extend(shared)
            active += sum(g.params for g in shared)
        other += moe_layers * spec.num_experts * h  # router
        if spec.expert_bias:  # gpt-oss: gate_up and down biases per expert, a router bias
            other += moe_layers * spec.num_experts * (2 * spec.moe_intermediate_size + h + 1)
    embedding = spec.vocab_size * h
    # Embedding and rerank models built on a decoder pool hidden states: no lm_head is loaded.
    lm_head = 0 if spec.tie_word_embeddings or spec.kind != "causal" else embedding
    return ParameterCount(
        embedding=embedding,
        lm_head=lm_head,
        linears=tuple(groups),
        other=other + spec.vision_params,
        active_linear=active,
    )


def _attention_groups(spec: ModelSpec) -> list[LinearGroup]:
    h, layers, heads = spec.hidden_size, spec.attention_layers, spec.num_attention_heads
    if spec.is_mla:
        qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
        q = (
            [
                LinearGroup("q_a", h, spec.q_lora_rank, layers),
                LinearGroup("q_b", spec.q_lora_rank, heads * qk, layers),
            ]
            if spec.q_lora_rank
            else [LinearGroup("q", h, heads * qk, layers)]
        )
        indexer = (
            [
                LinearGroup(
                    "indexer.wq_b",
                    spec.q_lora_rank,
                    spec.index_n_heads * spec.index_head_dim,
                    layers,
                ),
                LinearGroup("indexer.wk", h, spec.index_head_dim, layers),
                LinearGroup("indexer.weights_proj", h, spec.index_n_heads, layers),
            ]
            if spec.index_head_dim
            else []
        )
        return [
            *q,
            LinearGroup("kv_a", h, spec.kv_lora_rank + spec.qk_rope_head_dim, layers),
            LinearGroup(
                "kv_b", spec.kv_lora_rank, heads * (spec.qk_nope_head_dim + spec.v_head_dim), layers
            ),
            LinearGroup("o", heads * spec.v_head_dim, h, layers),
            *indexer,
        ]
    d = spec.head_dim
    q_width = heads * d * (2 if spec.attention_output_gate else 1)
    return [
        LinearGroup("q", h, q_width, layers),
        LinearGroup("kv", h, 2 * spec.num_kv_heads * d, layers),
        LinearGroup("o", heads * d, h, layers),
    ]


def _attention_extras(spec: ModelSpec) -> int:
    """Biases, sinks and latent norms of the attention layers."""
    layers, heads = spec.attention_layers, spec.num_attention_heads
    extra = 0
    if spec.qkv_bias:
        extra += layers * (heads + 2 * spec.num_kv_heads) * spec.head_dim
    if spec.o_bias:
        extra += layers * spec.hidden_size
    if spec.attention_sinks:
        extra += layers * heads
    if spec.is_mla:
        extra += layers * (spec.q_lora_rank + spec.kv_lora_rank)  # latent norms
        extra += layers * 2 * spec.index_head_dim  # the indexer's key LayerNorm
    return extra


def _linear_attention_groups(spec: ModelSpec) -> list[LinearGroup]:
    """Gated DeltaNet (Qwen3-Next): q, k, v and the output gate z in one projection, the beta
    and alpha gates in another, then the output projection."""
    if not spec.linear_layers:
        return []
    h, layers = spec.hidden_size, spec.linear_layers
    keys = spec.linear_num_key_heads * spec.linear_key_head_dim
    values = spec.linear_num_value_heads * spec.linear_value_head_dim
    return [
        LinearGroup("linear_attn.in_proj_qkvz", h, 2 * keys + 2 * values, layers),
        LinearGroup("linear_attn.in_proj_ba", h, 2 * spec.linear_num_value_heads, layers),
        LinearGroup("linear_attn.out_proj", values, h, layers),
    ]


def _linear_attention_extras(spec: ModelSpec) -> int:
    """The causal conv over q, k and v, the per-head decay (A_log, dt_bias) and the gated norm."""
    if not spec.linear_layers:
        return 0
    keys = spec.linear_num_key_heads * spec.linear_key_head_dim
    values = spec.linear_num_value_heads * spec.linear_value_head_dim
    conv = (2 * keys + values) * spec.linear_conv_kernel_dim
    per_layer = conv + 2 * spec.linear_num_value_heads + spec.linear_value_head_dim
    return spec.linear_layers * per_layer


def _mlp(h: int, intermediate: int, count: int, name: str) -> list[LinearGroup]:
    """Gated MLP (SwiGLU/GeGLU): gate and up projections, then down."""
    return [
        LinearGroup(f"{name}.gate_up", h, 2 * intermediate, count),
        LinearGroup(f"{name}.down", intermediate, h, count),
    ]


def _encoder_count(spec: ModelSpec) -> ParameterCount:
    """BERT / XLM-R: biased Q,K,V,O and a two-matrix GELU MLP, LayerNorms, a pooler or head."""
    h, layers, inter = spec.hidden_size, spec.num_layers, spec.intermediate_size
    groups = (
        LinearGroup("qkv", h, 3 * h, layers),
        LinearGroup("o", h, h, layers),
        LinearGroup("mlp.up", h, inter, layers),
        LinearGroup("mlp.down", inter, h, layers),
    )
    biases = layers * (4 * h + inter + h)
    norms = layers * 2 * 2 * h + 2 * h
    positions = (spec.max_position_embeddings + spec.type_vocab_size) * h
    head = h * h + h + (h + 1 if spec.kind == "rerank" else 0)  # pooler / classifier
    linear = sum(g.params for g in groups)
    return ParameterCount(
        embedding=spec.vocab_size * h,
        lm_head=0,
        linears=groups,
        other=biases + norms + positions + head,
        active_linear=linear,
    )


def weight_bytes(spec: ModelSpec, fmt: str) -> WeightBytes:
    counts = parameter_count(spec)
    unquantized = counts.total - counts.linear
    if fmt in GGUF_FORMATS:
        bits = GGUF_BITS_PER_PARAM[fmt]
        total = int(counts.total * bits / 8)
        return WeightBytes(
            total,
            total,
            0,
            bits,
            f"{counts.total:,} params × {bits} bits (llama.cpp {fmt.upper()} average)",
        )
    if fmt in {"bf16", "fp16", "fp32"}:
        size = 4 if fmt == "fp32" else 2
        total = counts.total * size
        return WeightBytes(
            total,
            counts.linear * size,
            unquantized * size,
            size * 8.0,
            f"{counts.total:,} params × {size} B ({fmt})",
        )
    if fmt == "mxfp4":
        return _mxfp4_bytes(counts)
    linear = sum(_quantized_linear_bytes(g, fmt) for g in counts.linears)
    rest = unquantized * 2
    total = linear + rest
    return WeightBytes(
        total,
        linear,
        rest,
        total * 8 / counts.total,
        f"{counts.linear:,} Linear params as {_FORMAT_TEXT[fmt]} = {linear:,} B; "
        f"{unquantized:,} embedding/lm_head/norm params × 2 B = {rest:,} B",
    )


def gguf_embedding_bytes(spec: ModelSpec, fmt: str, file_bytes: int) -> tuple[int, str]:
    """The token embedding's bytes in a GGUF file of type `fmt` and its ggml type; for a type
    llama-quantize's rules are not tabled for, the file's average bits per parameter."""
    params = spec.vocab_size * spec.hidden_size
    if fmt not in GGUF_EMBEDDING_TYPES:
        return int(params * file_bytes / parameter_count(spec).total), f"{fmt} average"
    untied, tied = GGUF_EMBEDDING_TYPES[fmt]
    type_name = tied if spec.tie_word_embeddings else untied
    block, block_bytes = GGML_BLOCKS[type_name]
    return -(-params // block) * block_bytes, type_name


def _mxfp4_bytes(counts: ParameterCount) -> WeightBytes:
    """gpt-oss's checkpoint: only the routed experts are MXFP4 (its quantization_config leaves
    attention, router, embeddings and head out); the rest stays bf16."""
    experts = [g for g in counts.linears if g.name.startswith(ROUTED_EXPERTS)]
    expert_params = sum(g.params for g in experts)
    quantized = sum(_quantized_linear_bytes(g, "mxfp4") for g in experts)
    rest_params = counts.total - expert_params
    rest = rest_params * 2
    total = quantized + rest
    return WeightBytes(
        total,
        quantized,
        rest,
        total * 8 / counts.total,
        f"{expert_params:,} expert params as MXFP4 (4-bit E2M1 + one E8M0 scale per "
        f"{MXFP4_BLOCK}) = {quantized:,} B; {rest_params:,} attention/router/embedding params "
        f"× 2 B = {rest:,} B",
    )


_FORMAT_TEXT = {
    "fp8": "FP8 (1 B + fp32 scale per output channel)",
    "int8": "INT8 (1 B + fp32 scale per output channel)",
    "awq": "AWQ int4 g128 (4 bits + fp16 scale + packed 4-bit zero per 128 inputs)",
    "gptq": "GPTQ int4 g128 (AWQ layout + int32 g_idx per input row)",
    "nf4": "bitsandbytes NF4 (4 bits + double-quantized absmax per 64)",
}


def _quantized_linear_bytes(group: LinearGroup, fmt: str) -> int:
    n_in, n_out, count = group.in_features, group.out_features, group.count
    if fmt in {"fp8", "int8"}:
        per = n_in * n_out + 4 * n_out
    elif fmt in {"awq", "gptq"}:
        groups = -(-n_in // INT4_GROUP_SIZE)
        per = n_in * n_out // 2 + groups * n_out * 2 + groups * n_out // 2
        if fmt == "gptq":
            per += 4 * n_in
    elif fmt == "mxfp4":
        per = n_in * n_out // 2 + -(-n_in // MXFP4_BLOCK) * n_out
    elif fmt == "nf4":
        blocks = -(-(n_in * n_out) // NF4_BLOCK)
        per = n_in * n_out // 2 + blocks + 4 * -(-blocks // NF4_SECOND_BLOCK)
    else:
        raise ValueError(f"not a quantized Linear format: {fmt}")
    return per * count
