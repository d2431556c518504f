"""Writes an F16 GGUF with pseudo-random weights for a published model shape, for llama.cpp.

    python3 bench/engines/gguf_model.py MODEL_ID OUT.gguf

The shape is the model's published config.json (`models.json` beside this file). The file
holds the architecture's metadata, an SPM ("llama") tokenizer of exactly `vocab_size` tokens
(`<unk> <s> </s>`, the 256 byte tokens, then fillers), and every tensor llama.cpp loads for the
architecture (`src/models/<arch>.cpp`), named and laid out as llama.cpp's converter writes them:
matrices F16, norms, biases and rope factors F32. A tied model (`tie_word_embeddings`) has no
`output.weight`. The matrices repeat one block of normal values (σ 0.02), so a 16 GB file is
written at disk speed; `llama-quantize` then gives real quantized file sizes.
"""

from __future__ import annotations

import math
import random
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from dummy_model import published, vocab_size

# config.json's model_type -> llama.cpp's architecture name (the `general.architecture` key)
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}
_BLOCK_VALUES = 1 << 22  # 8 MiB of F16: the repeated block
_CHUNK_BYTES = 64 << 20  # bytes per write
_SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
BYTE_TOKENS = 256
# llama.cpp's llama_token_type (gguf.TokenType)
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6
_ITEM_BYTES = {"F16": 2, "F32": 4}
MOSTLY_F16 = 1  # general.file_type (llama_ftype)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # numpy order (rows, columns): GGUF stores it reversed
    dtype: Literal["F16", "F32"]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _ITEM_BYTES[self.dtype]


def head_dim(config: dict[str, Any]) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def tensor_specs(config: dict[str, Any]) -> list[TensorSpec]:
    """The tensors llama.cpp's llama and qwen2 loaders read, in the converter's order."""
    model_type = config["model_type"]
    hidden = int(config["hidden_size"])
    ffn = int(config["intermediate_size"])
    q_width = int(config["num_attention_heads"]) * head_dim(config)
    kv_width = int(config["num_key_value_heads"]) * head_dim(config)
    vocab = vocab_size(config)
    f16: Literal["F16"] = "F16"
    f32: Literal["F32"] = "F32"
    specs = [TensorSpec("token_embd.weight", (vocab, hidden), f16)]
    if _llama3_rope(config):
        specs.append(TensorSpec("rope_freqs.weight", (head_dim(config) // 2,), f32))
    for layer in range(int(config["num_hidden_layers"])):
        block = f"blk.{layer}"
        specs += [
            TensorSpec(f"{block}.attn_norm.weight", (hidden,), f32),
            TensorSpec(f"{block}.attn_q.weight", (q_width, hidden), f16),
            TensorSpec(f"{block}.attn_k.weight", (kv_width, hidden), f16),
            TensorSpec(f"{block}.attn_v.weight", (kv_width, hidden), f16),
        ]
        if model_type == "qwen2":  # Qwen2 has biases on q, k and v
            specs += [
                TensorSpec(f"{block}.attn_q.bias", (q_width,), f32),
                TensorSpec(f"{block}.attn_k.bias", (kv_width,), f32),
                TensorSpec(f"{block}.attn_v.bias", (kv_width,), f32),
            ]
        specs += [
            TensorSpec(f"{block}.attn_output.weight", (hidden, q_width), f16),
            TensorSpec(f"{block}.ffn_norm.weight", (hidden,), f32),
            TensorSpec(f"{block}.ffn_gate.weight", (ffn, hidden), f16),
            TensorSpec(f"{block}.ffn_up.weight", (ffn, hidden), f16),
            TensorSpec(f"{block}.ffn_down.weight", (hidden, ffn), f16),
        ]
    specs.append(TensorSpec("output_norm.weight", (hidden,), f32))
    if not config.get("tie_word_embeddings", False):
        specs.append(TensorSpec("output.weight", (vocab, hidden), f16))
    return specs


def _llama3_rope(config: dict[str, Any]) -> dict[str, Any] | None:
    scaling = config.get("rope_scaling") or {}
    return scaling if scaling.get("rope_type") == "llama3" else None


def llama3_rope_factors(config: dict[str, Any]) -> list[float]:
    """Per rotary frequency, the divisor Llama 3.1's rope scaling applies (as the converter)."""
    scaling = _llama3_rope(config)
    assert scaling is not None
    base = float(config.get("rope_theta", 10000.0))
    dim = head_dim(config)
    factor = float(scaling["factor"])
    low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
    original = float(scaling["original_max_position_embeddings"])
    factors = []
    for index in range(0, dim, 2):
        wavelen = 2 * math.pi * base ** (index / dim)  # of the frequency base^(-index/dim)
        if wavelen < original / high:
            factors.append(1.0)
        elif wavelen > original / low:
            factors.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return factors


def tokenizer_vocabulary(size: int) -> tuple[list[str], list[int]]:
    """Tokens and their types: `<unk> <s> </s>`, the byte tokens, then fillers up to `size`."""
    fixed = len(_SPECIAL_TOKENS) + BYTE_TOKENS
    if size < fixed:
        raise ValueError(f"vocab_size {size} is below the {fixed} special and byte tokens")
    tokens = [*_SPECIAL_TOKENS, *(f"<0x{value:02X}>" for value in range(BYTE_TOKENS))]
    tokens += [f"\u2581t{index}" for index in range(size - fixed)]
    types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * BYTE_TOKENS + [NORMAL] * (size - fixed)
    return tokens, types


def add_metadata(writer: Any, model_id: str, config: dict[str, Any]) -> None:
    """`writer` is a gguf.GGUFWriter."""
    writer.add_name(model_id)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config["num_key_value_heads"]))
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_rope_dimension_count(head_dim(config))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(vocab_size(config))
    writer.add_file_type(MOSTLY_F16)
    tokens, types = tokenizer_vocabulary(vocab_size(config))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([-float(index) for index in range(len(tokens))])
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)


def _write_repeated(out: BinaryIO, chunk: bytes, nbytes: int) -> None:
    """`nbytes` of `chunk` repeated, in writes of at most its length."""
    while nbytes > 0:
        part = memoryview(chunk)[: min(nbytes, len(chunk))]
        out.write(part)
        nbytes -= len(part)


def small_tensor_values(spec: TensorSpec, config: dict[str, Any], rng: random.Random) -> bytes:
    """An F32 tensor's data: rope factors as computed, norms 1, biases small normal values."""
    if spec.name == "rope_freqs.weight":
        values = llama3_rope_factors(config)
    elif spec.name.endswith("norm.weight"):
        values = [1.0] * math.prod(spec.shape)
    else:
        values = [rng.gauss(0.0, 0.02) for _ in range(math.prod(spec.shape))]
    return struct.pack(f"<{len(values)}f", *values)


def write_gguf(model_id: str, path: Path, config: dict[str, Any] | None = None) -> Path:
    """The F16 GGUF of `model_id` (its config from models.json unless given) at `path`."""
    import gguf  # the GGUF writer and numpy: on the GPU host only
    import numpy as np

    config = config if config is not None else published(model_id)["config"]
    if config["model_type"] not in ARCHITECTURES:
        raise SystemExit(f"gguf_model: no llama.cpp tensor layout for {config['model_type']!r}")
    specs = tensor_specs(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, ARCHITECTURES[config["model_type"]])
    add_metadata(writer, model_id, config)
    for spec in specs:
        dtype = np.dtype(np.float16 if spec.dtype == "F16" else np.float32)
        writer.add_tensor_info(spec.name, spec.shape, dtype, spec.nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    block = np.random.default_rng(0).standard_normal(_BLOCK_VALUES, dtype=np.float32) * 0.02
    chunk = block.astype("<f2").tobytes() * (_CHUNK_BYTES // (2 * _BLOCK_VALUES))
    rng = random.Random(0)
    assert writer.fout is not None  # the header written above opened it
    out = writer.fout[0]
    for spec in specs:
        writer.write_padding(out, out.tell())
        if spec.dtype == "F16":
            _write_repeated(out, chunk, spec.nbytes)
        else:
            out.write(small_tensor_values(spec, config, rng))
        writer.write_padding(out, spec.nbytes)
    writer.close()
    return path


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(write_gguf(sys.argv[1], Path(sys.argv[2])))


if __name__ == "__main__":
    main()
