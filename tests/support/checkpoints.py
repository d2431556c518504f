"""Checkpoint headers for real model shapes, written by the formats' own rules.

`decoder_tensors` lists the tensors a Hugging Face Llama/Qwen2-style checkpoint stores for a
config (names and shapes as the transformers modules define them), `awq_tensors` the same packed
as AutoAWQ stores int4 (qweight/qzeros as I32 of eight nibbles, fp16 scales per group of 128);
`safetensors_file` writes the 8-byte length and the JSON header, `gguf_file` a GGUF v3 header.
Only headers are materialised: the data sections are declared, never built.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "U8": 1, "F8_E4M3": 1}
AWQ_GROUP = 128
AWQ_PACK = 8  # int4 values per int32

Tensors = dict[str, tuple[str, list[int]]]


@dataclass(frozen=True)
class VirtualFile:
    """A file of which only the first `header` bytes exist; `size` is what it declares."""

    header: bytes
    size: int


def tensor_bytes(tensors: Tensors) -> int:
    return sum(math.prod(shape) * DTYPE_BYTES[dtype] for dtype, shape in tensors.values())


def decoder_tensors(config: Mapping[str, Any], dtype: str = "BF16") -> Tensors:
    h = config["hidden_size"]
    heads, kv = (
        config["num_attention_heads"],
        config.get("num_key_value_heads", config["num_attention_heads"]),
    )
    d = config.get("head_dim", h // heads)
    inter, vocab = config["intermediate_size"], config["vocab_size"]
    bias = config.get("model_type") == "qwen2"
    tensors: Tensors = {"model.embed_tokens.weight": (dtype, [vocab, h])}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}"
        for name, out, inp in (
            ("self_attn.q_proj", heads * d, h),
            ("self_attn.k_proj", kv * d, h),
            ("self_attn.v_proj", kv * d, h),
            ("self_attn.o_proj", h, heads * d),
            ("mlp.gate_proj", inter, h),
            ("mlp.up_proj", inter, h),
            ("mlp.down_proj", h, inter),
        ):
            tensors[f"{p}.{name}.weight"] = (dtype, [out, inp])
            if bias and name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                tensors[f"{p}.{name}.bias"] = (dtype, [out])
        tensors[f"{p}.input_layernorm.weight"] = (dtype, [h])
        tensors[f"{p}.post_attention_layernorm.weight"] = (dtype, [h])
    tensors["model.norm.weight"] = (dtype, [h])
    if not config.get("tie_word_embeddings", False):
        tensors["lm_head.weight"] = (dtype, [vocab, h])
    return tensors


def awq_tensors(config: Mapping[str, Any]) -> Tensors:
    """AutoAWQ's GEMM layout: every block Linear as qweight [in, out/8] I32, qzeros
    [in/128, out/8] I32, scales [in/128, out] F16; embeddings, norms and head stay F16."""
    packed: Tensors = {}
    for name, (_, shape) in decoder_tensors(config, "F16").items():
        if ".layers." in name and name.endswith("proj.weight"):
            out, inp = shape
            stem = name.removesuffix(".weight")
            packed[f"{stem}.qweight"] = ("I32", [inp, out // AWQ_PACK])
            packed[f"{stem}.qzeros"] = ("I32", [inp // AWQ_GROUP, out // AWQ_PACK])
            packed[f"{stem}.scales"] = ("F16", [inp // AWQ_GROUP, out])
        else:
            packed[name] = ("F16", shape)
    return packed


def shard(tensors: Tensors, shards: int) -> list[Tensors]:
    names = list(tensors)
    size = -(-len(names) // shards)
    return [{n: tensors[n] for n in names[i : i + size]} for i in range(0, len(names), size)]


def safetensors_file(tensors: Tensors) -> VirtualFile:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    return VirtualFile(len(raw).to_bytes(8, "little") + raw, 8 + len(raw) + offset)


def shard_names(count: int) -> list[str]:
    return [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def index_file(shards: list[Tensors]) -> bytes:
    names = shard_names(len(shards))
    weight_map = {t: names[i] for i, part in enumerate(shards) for t in part}
    total = sum(tensor_bytes(part) for part in shards)
    return json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}).encode()


# -- GGUF -------------------------------------------------------------------------------------

GGML_BLOCKS = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_K": (12, 256, 144), "Q6_K": (14, 256, 210)}
Q4_K_M_FILE_TYPE = 15


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _gguf_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<II", 4, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    if isinstance(value, str):
        return struct.pack("<I", 8) + _gguf_string(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_gguf_string(v) for v in value)
    if isinstance(value, list):
        return struct.pack("<IIQ", 9, 5, len(value)) + b"".join(struct.pack("<i", v) for v in value)
    raise TypeError(value)


def gguf_tensor_bytes(tensors: Mapping[str, tuple[str, list[int]]]) -> int:
    total = 0
    for ggml, shape in tensors.values():
        _, block, size = GGML_BLOCKS[ggml]
        total += math.prod(shape) // block * size
    return total


def gguf_file(
    metadata: Mapping[str, Any], tensors: Mapping[str, tuple[str, list[int]]]
) -> VirtualFile:
    """GGUF v3: metadata, then tensor infos (dims innermost first, as ggml stores them)."""
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata.items():
        body += _gguf_string(key) + _gguf_value(value)
    offset = 0
    for name, (ggml, shape) in tensors.items():
        number, block, size = GGML_BLOCKS[ggml]
        body += _gguf_string(name) + struct.pack("<I", len(shape))
        body += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        body += struct.pack("<IQ", number, offset)
        offset += -(-(math.prod(shape) // block * size) // 32) * 32
    body += b"\0" * (-len(body) % 32)
    return VirtualFile(body, len(body) + offset)


def qwen2_gguf(
    config: Mapping[str, Any], vocab_tokens: int
) -> tuple[dict[str, Any], dict[str, tuple[str, list[int]]]]:
    """llama.cpp's names for a Qwen2 model quantized as Q4_K_M (Q6_K for the output and
    every attn_v / ffn_down, the mix's rule of thumb)."""
    h, layers = config["hidden_size"], config["num_hidden_layers"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    d, inter = h // heads, config["intermediate_size"]
    metadata: dict[str, Any] = {
        "general.architecture": "qwen2",
        "general.name": "Qwen2.5 7B Instruct",
        "general.file_type": Q4_K_M_FILE_TYPE,
        "qwen2.block_count": layers,
        "qwen2.context_length": config["max_position_embeddings"],
        "qwen2.embedding_length": h,
        "qwen2.feed_forward_length": inter,
        "qwen2.attention.head_count": heads,
        "qwen2.attention.head_count_kv": kv,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(vocab_tokens)],
    }
    tensors: dict[str, tuple[str, list[int]]] = {"token_embd.weight": ("Q4_K", [vocab_tokens, h])}
    for i in range(layers):
        b = f"blk.{i}"
        tensors |= {
            f"{b}.attn_norm.weight": ("F32", [h]),
            f"{b}.attn_q.weight": ("Q4_K", [heads * d, h]),
            f"{b}.attn_q.bias": ("F32", [heads * d]),
            f"{b}.attn_k.weight": ("Q4_K", [kv * d, h]),
            f"{b}.attn_k.bias": ("F32", [kv * d]),
            f"{b}.attn_v.weight": ("Q6_K", [kv * d, h]),
            f"{b}.attn_v.bias": ("F32", [kv * d]),
            f"{b}.attn_output.weight": ("Q4_K", [h, heads * d]),
            f"{b}.ffn_norm.weight": ("F32", [h]),
            f"{b}.ffn_gate.weight": ("Q4_K", [inter, h]),
            f"{b}.ffn_up.weight": ("Q4_K", [inter, h]),
            f"{b}.ffn_down.weight": ("Q6_K", [h, inter]),
        }
    tensors["output_norm.weight"] = ("F32", [h])
    tensors["output.weight"] = ("Q6_K", [vocab_tokens, h])
    return metadata, tensors
