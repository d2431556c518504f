"""bench/engines/gguf_model: the tensors, tokenizer and file llama.cpp is given per model shape."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "engines"))
from dummy_model import published  # noqa: E402
from gguf_model import (  # noqa: E402
    BYTE,
    CONTROL,
    NORMAL,
    UNKNOWN,
    llama3_rope_factors,
    tensor_specs,
    tokenizer_vocabulary,
    write_gguf,
)

LLAMA = published("meta-llama/Llama-3.1-8B-Instruct")["config"]
QWEN = published("Qwen/Qwen2.5-1.5B-Instruct")["config"]


def f16_bytes(config: dict[str, Any]) -> int:
    return sum(spec.nbytes for spec in tensor_specs(config) if spec.dtype == "F16")


def test_llama_3_1_8b_matrices_hold_its_published_parameter_count() -> None:
    embedding = 128256 * 4096  # token_embd, and output (untied) again
    layer = 2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096  # q, o; k, v; gate, up, down
    assert f16_bytes(LLAMA) == 2 * (2 * embedding + 32 * layer) == 16_059_990_016


def test_a_tied_model_has_no_output_matrix() -> None:
    names = [spec.name for spec in tensor_specs(QWEN)]
    assert "output.weight" not in names
    assert names[0] == "token_embd.weight"
    assert names[-1] == "output_norm.weight"


def test_qwen2_has_qkv_biases_and_llama_has_rope_factors() -> None:
    qwen = {spec.name: spec for spec in tensor_specs(QWEN)}
    llama = {spec.name: spec for spec in tensor_specs(LLAMA)}
    assert qwen["blk.27.attn_k.bias"].shape == (2 * 128,)  # 2 KV heads of 1536 / 12
    assert "blk.0.attn_k.bias" not in llama
    assert llama["rope_freqs.weight"].shape == (64,)  # head_dim 128 / 2
    assert "rope_freqs.weight" not in qwen


def test_matrices_are_stored_in_numpy_order_rows_first() -> None:
    specs = {spec.name: spec for spec in tensor_specs(LLAMA)}
    assert specs["blk.0.attn_k.weight"].shape == (1024, 4096)
    assert specs["blk.0.ffn_down.weight"].shape == (4096, 14336)


def test_llama3_rope_scaling_keeps_high_frequencies_and_divides_low_ones_by_the_factor() -> None:
    factors = llama3_rope_factors(LLAMA)
    assert (factors[0], factors[-1]) == (1.0, 8.0)
    assert all(1.0 <= factor <= 8.0 for factor in factors)


def test_tokenizer_has_exactly_vocab_size_tokens() -> None:
    tokens, types = tokenizer_vocabulary(151936)
    assert len(tokens) == len(types) == 151936
    assert tokens[:4] == ["<unk>", "<s>", "</s>", "<0x00>"]
    assert tokens[258] == "<0xFF>"
    assert types[:4] == [UNKNOWN, CONTROL, CONTROL, BYTE]
    assert types[259:] == [NORMAL] * (151936 - 259)
    assert len(set(tokens)) == len(tokens)


def test_a_vocabulary_smaller_than_the_fixed_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="below the 259"):
        tokenizer_vocabulary(100)


def test_written_file_reads_back_with_the_gguf_reader(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf", reason="the gguf package writes the file (GPU hosts)")
    tiny = {**QWEN, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2}
    tiny |= {"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300}
    reader = gguf.GGUFReader(write_gguf("tiny", tmp_path / "tiny.gguf", tiny))
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    assert len(tensors) == len(tensor_specs(tiny)) == 1 + 2 * 12 + 1
    assert list(tensors["token_embd.weight"].shape) == [64, 300]  # GGUF's order: columns first
    assert tensors["blk.1.attn_norm.weight"].data.tolist() == [1.0] * 64
    assert reader.fields["general.architecture"].contents() == "qwen2"
    assert len(reader.fields["tokenizer.ggml.tokens"].contents()) == 300
