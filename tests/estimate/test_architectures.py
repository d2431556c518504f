"""One test per architecture feature of the models people serve now, each with its arithmetic
written out from the published config.json shapes (catalog entries)."""

from __future__ import annotations

import pytest

from gpu_insight.engines.vllm import LARGE_GPU_SCHEDULER
from gpu_insight.estimate import VramRequest, check_fit
from gpu_insight.estimate.activations import vision_encoder_bytes
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.kv_cache import kv_layout, recurrent_state_elements
from gpu_insight.estimate.plans.vllm import engine_core
from gpu_insight.estimate.resolve import settings_for
from gpu_insight.estimate.weights import parameter_count, weight_bytes
from tests.support.gpus import h100

GPT_OSS_20B = "openai/gpt-oss-20b"
# hidden 2880, 24 layers, 64 query heads and 8 KV heads of 64, 32 experts of 2880, vocab 201088
GPT_OSS_EXPERT_PARAMS = 24 * 32 * (2880 * 5760 + 2880 * 2880)  # gate_up, down
GPT_OSS_ATTENTION_PARAMS = 24 * (
    2880 * 4096
    + 4096  # q_proj + bias
    + 2 * (2880 * 512 + 512)  # k_proj, v_proj + biases
    + 4096 * 2880
    + 2880  # o_proj + bias
    + 64  # sinks: one logit per query head
)
GPT_OSS_OTHER_PARAMS = (
    2 * 201088 * 2880  # embed_tokens and an untied lm_head
    + 24 * (2880 * 32 + 32)  # router + bias
    + 24 * 32 * (5760 + 2880)  # expert gate_up and down biases
    + 24 * 2 * 2880
    + 2880  # RMSNorms
)


def test_mxfp4_experts_give_gpt_oss_20b_its_checkpoint_bytes_exactly() -> None:
    # MXFP4: per expert Linear, in × out / 2 bytes of E2M1 pairs + one E8M0 scale per 32 inputs
    experts = (
        24 * 32 * ((2880 * 5760 // 2 + 2880 // 32 * 5760) + (2880 * 2880 // 2 + 2880 // 32 * 2880))
    )
    rest = (GPT_OSS_ATTENTION_PARAMS + GPT_OSS_OTHER_PARAMS) * 2  # bf16
    assert experts == 10_152_345_600
    # model.safetensors.index.json of openai/gpt-oss-20b: "total_size": 13761264768
    assert experts + rest == 13_761_264_768
    spec = lookup(GPT_OSS_20B).spec()
    assert spec.checkpoint_quantization == "mxfp4"
    assert weight_bytes(spec, "mxfp4").total_bytes == 13_761_264_768


def test_attention_sinks_and_expert_biases_are_counted_in_gpt_oss() -> None:
    spec = lookup(GPT_OSS_20B).spec()
    assert spec.attention_sinks and spec.o_bias and spec.expert_bias
    total = GPT_OSS_EXPERT_PARAMS + GPT_OSS_ATTENTION_PARAMS + GPT_OSS_OTHER_PARAMS
    assert parameter_count(spec).total == total == 20_914_757_184
    # sinks are a softmax term per head: they add no KV
    assert kv_layout(spec, 2).bytes_per_token_layer == 2 * 8 * 64 * 2


def test_gpt_oss_alternates_sliding_and_full_layers() -> None:
    layout = kv_layout(lookup(GPT_OSS_20B).spec(), 2)
    assert (layout.full_layers, layout.sliding_layers, layout.window) == (12, 12, 128)
    # at 131,072 tokens: 12 layers hold all of them, 12 hold the last 128
    assert layout.sequence_bytes(131072) == 2048 * (12 * 131072 + 12 * 128)


def test_llama4_chunked_layers_hold_one_chunk() -> None:
    spec = lookup("meta-llama/Llama-4-Scout-17B-16E-Instruct").spec()
    layout = kv_layout(spec, 2)
    # no_rope_layers marks 36 RoPE layers (chunked, 8,192 tokens); every 4th layer is global
    assert (layout.full_layers, layout.chunked_layers, layout.chunk) == (12, 36, 8192)
    per_layer_token = 2 * 8 * 128 * 2
    assert layout.sequence_bytes(131072) == per_layer_token * (12 * 131072 + 36 * 8192)
    assert layout.sequence_bytes(131072) == 7_650_410_496  # instead of 25.8 GB unchunked


def test_llama4_interleaves_moe_and_dense_layers() -> None:
    spec = lookup("meta-llama/Llama-4-Maverick-17B-128E-Instruct").spec()
    # interleave_moe_layer_step 2: 24 MoE layers of 128 experts (8192) + a shared expert,
    # 24 dense layers with intermediate_size_mlp 16384
    assert (spec.dense_layers, spec.intermediate_size, spec.moe_intermediate_size) == (
        24,
        16384,
        8192,
    )
    groups = {g.name: g.params for g in parameter_count(spec).linears}
    assert groups["experts.gate_up"] + groups["experts.down"] == 24 * 128 * 3 * 5120 * 8192
    assert groups["mlp.gate_up"] + groups["mlp.down"] == 24 * 3 * 5120 * 16384
    assert groups["shared_experts.gate_up"] + groups["shared_experts.down"] == 24 * 3 * 5120 * 8192


def test_gated_deltanet_layers_keep_a_fixed_state_per_sequence() -> None:
    spec = lookup("Qwen/Qwen3-Next-80B-A3B-Instruct").spec()
    assert (spec.attention_layers, spec.linear_layers) == (12, 36)
    # conv: (4 − 1) × (2 × 16 × 128 + 32 × 128) channels; state: 32 value heads × 128 × 128
    assert recurrent_state_elements(spec) == 3 * 8192 + 32 * 128 * 128 == 548_864
    layout = kv_layout(spec, 2)
    state = 36 * 548_864 * 2
    assert layout.state_bytes == state == 39_518_208
    # only the 12 attention layers keep KV: 2 × 2 KV heads × 256 × 2 B each
    assert layout.bytes_per_token == 12 * 2 * 2 * 256 * 2 == 24_576
    assert layout.sequence_bytes(32768) == 24_576 * 32768 + state
    # over TP 2 the heads, and with them the state, are split
    assert kv_layout(spec, 2, tensor_parallel=2).state_bytes == state / 2


def test_the_recurrent_state_is_counted_once_per_sequence_in_what_fits() -> None:
    request = VramRequest(
        model="Qwen/Qwen3-Next-80B-A3B-Instruct",
        quantization="awq",
        context_length=1024,
        concurrency=64,
    )
    answer = check_fit(request, [h100(free_mib=80_000)])
    pool_mib = next(line.mib for line in answer.breakdown if line.name == "kv_cache_pool")
    one = 24_576 * 1024 + 39_518_208
    assert answer.max_concurrency == int(pool_mib * 2**20 // one)
    # as vLLM reports it: the sequences of this length it holds × their length
    assert answer.kv_cache_tokens == pytest.approx(pool_mib * 2**20 / one * 1024, abs=2)


def test_qwen3_next_attention_has_an_output_gate() -> None:
    spec = lookup("Qwen/Qwen3-Next-80B-A3B-Instruct").spec()
    groups = {g.name: g for g in parameter_count(spec).linears}
    assert groups["q"].out_features == 2 * 16 * 256  # query and gate per head
    assert groups["linear_attn.in_proj_qkvz"].out_features == 2 * 16 * 128 + 2 * 32 * 128


def test_qwen2_5_vl_vision_encoder_weights_and_profile_image() -> None:
    spec = lookup("Qwen/Qwen2.5-VL-7B-Instruct").spec()
    vision = spec.vision
    assert vision is not None
    # 32 blocks of: qkv + proj (4·1280² + 4·1280), gated MLP (3·1280·3420 + 2·3420 + 1280), 2 norms
    block = 4 * 1280 * 1280 + 4 * 1280 + 3 * 1280 * 3420 + 2 * 3420 + 1280 + 2 * 1280
    patch_embed = 3 * 2 * 14 * 14 * 1280  # Conv3d over 2 frames of 14 × 14
    merger = 1280 + 5120 * 5120 + 5120 + 5120 * 3584 + 3584  # 2×2 patches → the text width
    assert vision.params == 32 * block + patch_embed + merger == 676_550_144
    # max_pixels 12,845,056 = 65,536 patches of 14 × 14 → 16,384 tokens after the 2×2 merge
    assert (vision.patches_per_image, vision.tokens_per_image) == (65_536, 16_384)
    mlp_peak = 65_536 * (3 * 3420 + 4 * 1280) * 2
    embeddings = 16_384 * 3584 * 2
    assert vision_encoder_bytes(spec) == mlp_peak + embeddings == 2_133_327_872


def test_qwen3_vl_vision_encoder_has_learnt_positions_and_deepstack_mergers() -> None:
    vision = lookup("Qwen/Qwen3-VL-8B-Instruct").spec().vision
    assert vision is not None
    block = 4 * 1152 * 1152 + 4 * 1152 + 2 * 1152 * 4304 + 4304 + 1152 + 4 * 1152
    patch_embed = 3 * 2 * 16 * 16 * 1152 + 1152
    positions = 2304 * 1152
    merger = 2 * 4608 + 4608 * 4608 + 4608 + 4608 * 4096 + 4096
    # one merger for the output and one per DeepStack layer (8, 16, 24)
    assert vision.params == 27 * block + patch_embed + positions + 4 * merger
    assert vision.tokens_per_image == 16_777_216 // (16 * 16) // 4 == 16_384


def test_vllm_profiles_one_largest_image_beside_the_text_forward_and_the_sampler() -> None:
    spec = lookup("Qwen/Qwen2.5-VL-7B-Instruct").spec()
    core = engine_core(spec, LARGE_GPU_SCHEDULER)
    # one 16,384-token image through the vision MLP: 2,034 MiB
    assert core.profile_encoder == 2_133_327_872
    peaks = (core.profile_forward, core.profile_sampler, core.profile_encoder)
    assert core.profile_peak == core.moe_workspace + max(peaks)
    assert core.profile_encoder > core.profile_forward


def test_decoder_embedding_models_load_no_lm_head_and_keep_no_kv() -> None:
    spec = lookup("Qwen/Qwen3-Embedding-8B").spec()
    assert spec.kind == "embedding" and not spec.has_kv_cache
    counts = parameter_count(spec)
    # Qwen3-8B's blocks and embedding, without its 151,665 × 4096 lm_head
    blocks = 36 * (4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096 + 3 * 4096 * 12288)
    assert counts.lm_head == 0
    assert counts.total == blocks + 151_665 * 4096 + 36 * 2 * 4096 + 4096 == 7_567_286_272
    answer = check_fit(VramRequest(model="qwen3-embedding:8b", concurrency=64), [h100()])
    assert answer.fits is True and answer.kv_cache_tokens == 0 and answer.max_concurrency == 64


def test_rerank_models_built_on_a_decoder_are_scored_without_kv() -> None:
    spec = lookup("Qwen/Qwen3-Reranker-4B").spec()
    assert spec.kind == "rerank" and kv_layout(spec, 2).bytes_per_token == 0
    assert parameter_count(spec).lm_head == 0  # tied: the embedding is the only copy


def test_deepseek_v3_2_adds_the_indexer_key_to_the_mla_latent() -> None:
    v3 = kv_layout(lookup("deepseek-ai/DeepSeek-V3").spec(), 2)
    v32 = kv_layout(lookup("deepseek-ai/DeepSeek-V3.2").spec(), 2)
    assert v3.bytes_per_token == 61 * (512 + 64) * 2 == 70_272
    # + one FP8 key of index_head_dim 128 and its fp32 scale per token and layer
    assert v32.bytes_per_token == 61 * ((512 + 64) * 2 + 128 + 4) == 78_324


def test_fp8_checkpoints_of_the_new_moe_models_are_served_as_stored() -> None:
    for name in (
        "MiniMaxAI/MiniMax-M2",
        "moonshotai/Kimi-K2-Instruct",
        "deepseek-ai/DeepSeek-V3.2",
    ):
        request = VramRequest(model=name, gpu_type="H200")
        assert settings_for(request, lookup(name).spec(), 8).quantization == "fp8"
