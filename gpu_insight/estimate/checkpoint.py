"""Exact weight bytes of a checkpoint, summed from its file headers (safetensors or GGUF).

A checkpoint stores each tensor as a dtype and a shape, so its bytes are exact: packed int4
(AWQ/GPTQ `qweight`/`qzeros` as I32, fp16 `scales`), FP8 (`F8_E4M3` with F32 scales), MXFP4
(U8 `blocks` and `scales`), 16-bit embeddings and heads, each counted as stored. GGUF tensors
are blocks of a ggml type (Q4_K: 256 weights in 144 bytes, …). Pure arithmetic over the header
tables a reader hands over; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from gpu_insight.errors import InputError, quoted

# safetensors dtype names → bytes per element (the format's own table).
SAFETENSORS_DTYPE_BYTES: dict[str, float] = {
    "F64": 8,
    "I64": 8,
    "U64": 8,
    "F32": 4,
    "I32": 4,
    "U32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "U16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F4": 0.5,
    "F6_E2M3": 0.75,
    "F6_E3M2": 0.75,
}

# ggml tensor types (ggml.h `enum ggml_type`) → (weights per block, bytes per block), from
# ggml-common.h's block structs.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# llama.cpp's `general.file_type` (enum llama_ftype) → the type name it quantizes to.
GGUF_FILE_TYPES: dict[int, str] = {
    0: "f32",
    1: "f16",
    2: "q4_0",
    3: "q4_1",
    7: "q8_0",
    8: "q5_0",
    9: "q5_1",
    10: "q2_k",
    11: "q3_k_s",
    12: "q3_k_m",
    13: "q3_k_l",
    14: "q4_k_s",
    15: "q4_k_m",
    16: "q5_k_s",
    17: "q5_k_m",
    18: "q6_k",
    19: "iq2_xxs",
    20: "iq2_xs",
    21: "q2_k_s",
    22: "iq3_xs",
    23: "iq3_xxs",
    24: "iq1_s",
    25: "iq4_nl",
    26: "iq3_s",
    27: "iq3_m",
    28: "iq2_s",
    29: "iq2_m",
    30: "iq4_xs",
    31: "iq1_m",
    32: "bf16",
    36: "tq1_0",
    37: "tq2_0",
    38: "mxfp4",
}


class CheckpointWeights(BaseModel):
    """What a checkpoint's headers say its tensors take."""

    model_config = ConfigDict(frozen=True)

    total_bytes: int
    bytes_by_dtype: dict[str, int]
    tensor_count: int
    files: int
    format: str  # the weight format it is stored in: bf16, fp8, awq, mxfp4, q4_k_m, ...
    gguf: bool = False

    def in_16_bits(self) -> CheckpointWeights:
        """The checkpoint as serving engines load an fp32 one: its F32 tensors in 16 bits."""
        by_dtype = {
            ("F32 as 16-bit" if d == "F32" else d): (n // 2 if d == "F32" else n)
            for d, n in self.bytes_by_dtype.items()
        }
        return self.model_copy(
            update={
                "bytes_by_dtype": by_dtype,
                "total_bytes": sum(by_dtype.values()),
                "format": "fp16",
            }
        )

    @property
    def explanation(self) -> str:
        kinds = ", ".join(
            f"{dtype} {size / 2**30:,.2f} GiB"
            for dtype, size in sorted(self.bytes_by_dtype.items(), key=lambda kv: -kv[1])
        )
        what = "GGUF header" if self.gguf else "safetensors header"
        files = f"{self.files} {what}s" if self.files > 1 else f"the {what}"
        return (
            f"{self.total_bytes:,} B of {self.tensor_count:,} tensors summed from {files} ({kinds})"
        )


def safetensors_weights(headers: Iterable[Mapping[str, Any]], fmt: str) -> CheckpointWeights:
    """Sum every tensor's bytes (dtype × shape) over the shards' JSON headers; `fmt` names
    the stored format (from the config). A malformed entry raises `InputError`."""
    by_dtype: dict[str, int] = {}
    count = files = 0
    for header in headers:
        files += 1
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            dtype, size = _safetensors_tensor(name, tensor)
            by_dtype[dtype] = by_dtype.get(dtype, 0) + size
            count += 1
    return CheckpointWeights(
        total_bytes=sum(by_dtype.values()),
        bytes_by_dtype=by_dtype,
        tensor_count=count,
        files=files,
        format=fmt,
    )


def _safetensors_tensor(name: str, tensor: Any) -> tuple[str, int]:
    if not isinstance(tensor, Mapping):
        raise InputError(f"safetensors header: tensor {quoted(name)} is not an object")
    dtype, shape = tensor.get("dtype"), tensor.get("shape")
    if dtype not in SAFETENSORS_DTYPE_BYTES:
        raise InputError(f"safetensors header: tensor {quoted(name)} has dtype {quoted(dtype)}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InputError(f"safetensors header: tensor {quoted(name)} has shape {quoted(shape)}")
    return str(dtype), math.ceil(math.prod(shape) * SAFETENSORS_DTYPE_BYTES[str(dtype)])


def gguf_weights(
    tensors: Iterable[tuple[str, int, tuple[int, ...]]], files: int, file_type: int | None
) -> CheckpointWeights:
    """Sum GGUF tensors (name, ggml type, shape) by their block sizes; the format is the file
    type llama.cpp wrote, else the type holding the most bytes."""
    by_type: dict[str, int] = {}
    count = 0
    for name, ggml_type, shape in tensors:
        if ggml_type not in GGML_TYPES:
            raise InputError(f"GGUF header: tensor {quoted(name)} has unknown type {ggml_type}")
        type_name, block, block_bytes = GGML_TYPES[ggml_type]
        elements = math.prod(shape)
        by_type[type_name] = by_type.get(type_name, 0) + -(-elements // block) * block_bytes
        count += 1
    if not by_type:
        raise InputError("GGUF header: the file lists no tensors")
    fmt = GGUF_FILE_TYPES.get(file_type) if file_type is not None else None
    return CheckpointWeights(
        total_bytes=sum(by_type.values()),
        bytes_by_dtype=by_type,
        tensor_count=count,
        files=files,
        format=fmt or max(by_type, key=lambda t: by_type[t]).lower(),
        gguf=True,
    )


def gguf_config(
    metadata: Mapping[str, Any], array_lengths: Mapping[str, int], tensor_names: Iterable[str]
) -> dict[str, Any]:
    """A config.json-shaped mapping from GGUF metadata (llama.cpp's `{arch}.…` keys), for
    `spec.from_hf_config`."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise InputError("GGUF header: general.architecture is missing")

    def key(name: str) -> Any:
        value = metadata.get(f"{arch}.{name}")
        return max(value) if isinstance(value, list) and value else value  # per-layer arrays

    config: dict[str, Any] = {
        "model_type": arch,
        "num_hidden_layers": key("block_count"),
        "hidden_size": key("embedding_length"),
        "intermediate_size": key("feed_forward_length"),
        "num_attention_heads": key("attention.head_count"),
        "num_key_value_heads": key("attention.head_count_kv"),
        "head_dim": key("attention.key_length"),
        "max_position_embeddings": key("context_length"),
        "vocab_size": key("vocab_size") or array_lengths.get("tokenizer.ggml.tokens"),
        "num_experts": key("expert_count"),
        "num_experts_per_tok": key("expert_used_count"),
        "moe_intermediate_size": key("expert_feed_forward_length"),
        "shared_expert_intermediate_size": key("expert_shared_feed_forward_length"),
        "first_k_dense_replace": key("leading_dense_block_count"),
        "sliding_window": key("attention.sliding_window"),
        "tie_word_embeddings": "output.weight" not in set(tensor_names),
    }
    if key("attention.kv_lora_rank"):  # DeepSeek's MLA
        rope = key("rope.dimension_count") or 0
        config |= {
            "kv_lora_rank": key("attention.kv_lora_rank"),
            "q_lora_rank": key("attention.q_lora_rank"),
            "qk_rope_head_dim": rope,
            "qk_nope_head_dim": (key("attention.key_length") or rope) - rope,
            "v_head_dim": key("attention.value_length"),
        }
    if arch == "gemma3":  # llama.cpp's own rule: every sixth layer attends globally
        config["sliding_window_pattern"] = 6
    return {name: value for name, value in config.items() if value is not None}
