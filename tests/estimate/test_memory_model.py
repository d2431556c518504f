"""Weights, KV cache and TP rules against the research note's reference figures."""

from __future__ import annotations

import pytest

from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest
from gpu_insight.estimate.activations import (
    masked_attention_bytes,
    prefill_bytes,
    sliding_mask_bytes,
    transformers_mlp_tensors,
)
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.kv_cache import kv_layout
from gpu_insight.estimate.parallel import capability_problem, tp_problem, valid_tp_sizes
from gpu_insight.estimate.plans import plan
from gpu_insight.estimate.resolve import settings_for
from gpu_insight.estimate.spec import from_hf_config
from gpu_insight.estimate.weights import WeightFormat, weight_bytes

GIB = 2**30
MIB = 2**20


def transformers_lines(model: str, context: int, concurrency: int) -> dict[str, float]:
    spec = lookup(model).spec()
    request = VramRequest(
        model=model,
        engine="transformers",
        quantization="bf16",
        context_length=context,
        concurrency=concurrency,
    )
    return {line.name: line.mib for line in plan(settings_for(request, spec, 1), None).lines}


@pytest.mark.parametrize(
    ("model", "kib_per_token"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 128),
        ("Qwen/Qwen2.5-7B-Instruct", 56),
        ("THUDM/glm-4-9b-chat", 40),
        ("microsoft/Phi-3-mini-4k-instruct", 384),
        ("deepseek-ai/DeepSeek-V3", 68.625),
        ("google/gemma-2-9b-it", 336),
    ],
)
def test_bf16_kv_per_token_matches_the_reference(model: str, kib_per_token: float) -> None:
    assert kv_layout(lookup(model).spec(), 2).bytes_per_token / 1024 == kib_per_token


def test_gemma_sliding_layers_hold_only_their_window() -> None:
    layout = kv_layout(lookup("google/gemma-3-27b-it").spec(), 2)
    assert (layout.full_layers, layout.sliding_layers, layout.window) == (10, 52, 1024)
    # research §3: Gemma-3-27B at 32k needs 2.9 GiB with windows instead of 15.5 GiB
    assert layout.sequence_bytes(32768) / GIB == pytest.approx(2.9, abs=0.05)


def test_mla_kv_is_not_divided_by_tensor_parallel() -> None:
    spec = lookup("deepseek-v3").spec()
    assert (
        kv_layout(spec, 2, tensor_parallel=8).bytes_per_token == kv_layout(spec, 2).bytes_per_token
    )


def test_tp_beyond_the_kv_heads_replicates_them() -> None:
    spec = lookup("qwen2.5:7b").spec()  # 4 KV heads
    layout = kv_layout(spec, 2, tensor_parallel=8)
    assert layout.kv_heads_per_gpu == 1 and layout.replicated
    assert layout.bytes_per_token * 8 == 2 * kv_layout(spec, 2).bytes_per_token


@pytest.mark.parametrize(
    ("model", "fmt", "gib"),
    [
        ("meta-llama/Meta-Llama-3-8B-Instruct", "awq", 5.33),
        ("Qwen/Qwen2.5-0.5B-Instruct", "awq", 0.43),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "bf16", 14.96),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "fp8", 8.46),
        ("meta-llama/Meta-Llama-3-70B-Instruct", "awq", 37.0),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "awq", 23.0),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "q4_k_m", 4.58),
    ],
)
def test_whole_model_weights_match_the_research_figures(
    model: str, fmt: WeightFormat, gib: float
) -> None:
    assert weight_bytes(lookup(model).spec(), fmt).total_bytes / GIB == pytest.approx(gib, rel=0.02)


def test_awq_keeps_embeddings_and_lm_head_in_16_bits() -> None:
    awq = weight_bytes(lookup("Qwen/Qwen2.5-0.5B-Instruct").spec(), "awq")
    assert awq.unquantized_bytes == pytest.approx(151936 * 896 * 2, rel=0.01)


def test_tp_must_divide_the_attention_heads_and_says_which_sizes_work() -> None:
    spec = lookup("qwen2.5:7b").spec()  # 28 heads, 4 KV heads
    message = tp_problem(spec, 8)
    assert message is not None and "(28)" in message and "accepted: 1, 2, 4" in message


def test_tp_must_split_or_replicate_the_kv_heads_evenly() -> None:
    # 7 divides the 28 query heads but neither divides nor is divided by the 4 KV heads
    assert "4 KV heads" in (tp_problem(lookup("qwen2.5:7b").spec(), 7) or "")
    assert valid_tp_sizes(lookup("qwen2.5:7b").spec(), 8) == [1, 2, 4]


def test_fp8_is_refused_on_a_turing_gpu_and_bf16_needs_ampere() -> None:
    assert "8.9" in (capability_problem("fp8", "auto", "7.5") or "")
    assert "8.0" in (capability_problem("bf16", "auto", "7.0") or "")
    assert capability_problem("fp8", "auto", "9.0") is None


def test_glm_aliases_are_read() -> None:
    spec = lookup("glm4:9b").spec()
    assert (spec.num_layers, spec.num_kv_heads, spec.head_dim, spec.vocab_size) == (
        40,
        2,
        128,
        151552,
    )
    assert spec.max_position_embeddings == 131072


def test_a_partial_config_names_the_missing_field() -> None:
    with pytest.raises(InputError, match=r"'hidden_size'.*d_model"):
        from_hf_config(
            {
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "vocab_size": 10,
                "intermediate_size": 8,
                "max_position_embeddings": 16,
            }
        )


def test_a_non_integer_field_is_refused() -> None:
    with pytest.raises(InputError, match=r"num_attention_heads.*whole number"):
        from_hf_config(
            {
                "num_hidden_layers": 2,
                "hidden_size": 8,
                "num_attention_heads": "four",
                "vocab_size": 10,
                "intermediate_size": 8,
                "max_position_embeddings": 16,
            }
        )


def test_encoders_have_no_kv_cache() -> None:
    spec = lookup("bge-m3").spec()
    assert spec.kind == "embedding" and kv_layout(spec, 2).bytes_per_token == 0
    assert lookup("bge-reranker-v2-m3").spec().kind == "rerank"


def test_transformers_sliding_layers_keep_the_whole_prefill_behind_their_window() -> None:
    # The cached window is a view into the prefill's K/V, so all of it stays allocated.
    lines = transformers_lines("mistralai/Mistral-7B-v0.1", 8192, 2)
    full = kv_layout(lookup("mistralai/Mistral-7B-v0.1").spec(), 2).bytes_per_token * 8192 * 2
    assert (lines["kv_cache"] + lines["sliding_kv_storage"]) * MIB == pytest.approx(full, abs=MIB)


def test_the_sliding_mask_is_built_once_the_sequence_reaches_the_window() -> None:
    spec = lookup("mistralai/Mistral-7B-v0.1").spec()  # window 4096
    assert sliding_mask_bytes(spec, 4095) == 0
    assert sliding_mask_bytes(spec, 4096) == 4096 * 4096
    assert sliding_mask_bytes(lookup("meta-llama/Llama-3.1-8B-Instruct").spec(), 32768) == 0


def test_one_boolean_mask_serves_the_whole_batch() -> None:
    one = transformers_lines("google/gemma-3-1b-it", 4096, 1)["sliding_window_mask"]
    assert transformers_lines("google/gemma-3-1b-it", 4096, 8)["sliding_window_mask"] == one


def test_a_fused_gate_up_mlp_holds_four_intermediates() -> None:
    assert transformers_mlp_tensors(lookup("microsoft/Phi-3-mini-4k-instruct").spec()) == 4
    assert transformers_mlp_tensors(lookup("meta-llama/Llama-3.1-8B-Instruct").spec()) == 3


def test_at_long_context_the_sliding_layers_sdpa_mask_copy_outgrows_the_mlp() -> None:
    spec = lookup("google/gemma-3-1b-it").spec()
    # SDPA's additive bf16 copy of the mask is batch × seq² × 2 B.
    assert masked_attention_bytes(spec, 1, 32768) > 32768**2 * 2
    assert masked_attention_bytes(spec, 1, 32768) > prefill_bytes(spec, 32768)
    assert masked_attention_bytes(spec, 8, 4096) < prefill_bytes(spec, 8 * 4096)
