"""Exact checkpoint bytes from safetensors tensor tables: MXFP4 blocks and scales, FP8 with
scales, and the refusals for malformed entries."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.errors import InputError
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.checkpoint import safetensors_weights
from gpu_insight.estimate.weights import weight_bytes
from tests.support.checkpoints import decoder_tensors


def gpt_oss_20b_table() -> dict[str, Any]:
    """openai/gpt-oss-20b's tensors as its index names them: experts as U8 MXFP4 blocks of 16
    bytes (32 values) with one U8 scale per block, everything else BF16."""
    table: dict[str, Any] = {
        "model.embed_tokens.weight": {"dtype": "BF16", "shape": [201088, 2880]},
        "lm_head.weight": {"dtype": "BF16", "shape": [201088, 2880]},
        "model.norm.weight": {"dtype": "BF16", "shape": [2880]},
    }
    for i in range(24):
        p = f"model.layers.{i}"
        for name, shape in {
            "self_attn.q_proj.weight": [4096, 2880],
            "self_attn.q_proj.bias": [4096],
            "self_attn.k_proj.weight": [512, 2880],
            "self_attn.k_proj.bias": [512],
            "self_attn.v_proj.weight": [512, 2880],
            "self_attn.v_proj.bias": [512],
            "self_attn.o_proj.weight": [2880, 4096],
            "self_attn.o_proj.bias": [2880],
            "self_attn.sinks": [64],
            "mlp.router.weight": [32, 2880],
            "mlp.router.bias": [32],
            "mlp.experts.gate_up_proj_bias": [32, 5760],
            "mlp.experts.down_proj_bias": [32, 2880],
            "input_layernorm.weight": [2880],
            "post_attention_layernorm.weight": [2880],
        }.items():
            table[f"{p}.{name}"] = {"dtype": "BF16", "shape": shape}
        table[f"{p}.mlp.experts.gate_up_proj_blocks"] = {"dtype": "U8", "shape": [32, 5760, 90, 16]}
        table[f"{p}.mlp.experts.gate_up_proj_scales"] = {"dtype": "U8", "shape": [32, 5760, 90]}
        table[f"{p}.mlp.experts.down_proj_blocks"] = {"dtype": "U8", "shape": [32, 2880, 90, 16]}
        table[f"{p}.mlp.experts.down_proj_scales"] = {"dtype": "U8", "shape": [32, 2880, 90]}
    return table


def test_mxfp4_blocks_and_scales_sum_to_the_index_total() -> None:
    weights = safetensors_weights([gpt_oss_20b_table()], "mxfp4")
    # the repository's model.safetensors.index.json: "total_size": 13761264768
    assert weights.total_bytes == 13_761_264_768
    assert weights.bytes_by_dtype["U8"] == 10_152_345_600
    spec = lookup("openai/gpt-oss-20b").spec()
    assert weight_bytes(spec, "mxfp4").total_bytes == weights.total_bytes


def test_fp8_weights_count_one_byte_each_with_their_fp32_scales() -> None:
    config = lookup("meta-llama/Llama-3.1-8B-Instruct").config
    table: dict[str, Any] = {}
    for name, (_, shape) in decoder_tensors(config, "BF16").items():
        if ".layers." in name and name.endswith("proj.weight"):
            table[name] = {"dtype": "F8_E4M3", "shape": shape}
            table[name.replace(".weight", ".weight_scale")] = {
                "dtype": "F32",
                "shape": [shape[0], 1],
            }
        else:
            table[name] = {"dtype": "BF16", "shape": shape}
    weights = safetensors_weights([table], "fp8")
    # 32 layers of q, o (4096²), k, v (1024 × 4096) and the gated MLP (3 × 14336 × 4096)
    linears = 32 * (4096 * 4096 * 2 + 2 * 1024 * 4096 + 3 * 14336 * 4096)
    assert weights.bytes_by_dtype["F8_E4M3"] == linears
    # one fp32 scale per output channel of q, k, v, o, gate, up, down
    channels = 4096 + 1024 + 1024 + 4096 + 14336 + 14336 + 4096
    assert weights.bytes_by_dtype["F32"] == 32 * channels * 4
    # the FP8 formula assumes exactly this layout: 1 B per weight + an fp32 scale per channel
    assert weight_bytes(lookup("llama3.1:8b").spec(), "fp8").total_bytes == weights.total_bytes


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ("not an object", "is not an object"),
        ({"dtype": "Q9", "shape": [2]}, "has dtype 'Q9'"),
        ({"dtype": "BF16", "shape": [-1]}, "has shape"),
        ({"dtype": "BF16", "shape": "2x2"}, "has shape"),
    ],
)
def test_a_malformed_tensor_entry_is_refused_naming_it(tensor: Any, message: str) -> None:
    with pytest.raises(InputError, match=rf"tensor 'w' {message}"):
        safetensors_weights([{"w": tensor}], "bf16")


def test_an_fp32_checkpoint_is_counted_as_engines_load_it() -> None:
    weights = safetensors_weights([{"w": {"dtype": "F32", "shape": [4, 4]}}], "fp32")
    assert weights.in_16_bits().total_bytes == 32 and weights.in_16_bits().format == "fp16"
