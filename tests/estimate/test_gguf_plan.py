"""The llama.cpp / Ollama plan's rules, as llama.cpp allocates with every layer on the GPU: the
GGUF less the token embedding (host memory), KV for context × slots, one batch's compute buffer,
and the server process's own overhead."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest
from gpu_insight.estimate.catalog import lookup
from gpu_insight.estimate.plans import GpuTarget, Plan, plan
from gpu_insight.estimate.resolve import settings_for
from gpu_insight.schemas import KnownEngine

MIB = 2**20
H200 = GpuTarget("NVIDIA H200", 143_771.0, 143_771.0)
LLAMA = "llama3.1:8b"  # 8,030,261,248 params, vocab 128,256 × hidden 4,096, 32 heads, untied
QWEN = "qwen2.5:1.5b"  # 1,543,714,304 params, vocab 151,936 × hidden 1,536, tied


def gguf_plan(
    model: str = LLAMA,
    engine: KnownEngine = "llama.cpp",
    gpu: GpuTarget | None = H200,
    **asked: Any,
) -> Plan:
    request = VramRequest(model=model, engine=engine, **{"quantization": "q4_k_m", **asked})
    return plan(settings_for(request, lookup(model).spec(), 1), gpu)


def mib(result: Plan, name: str) -> float:
    return sum(line.mib for line in result.lines if line.name == name)


def test_an_untied_model_keeps_its_token_embedding_off_the_gpu() -> None:
    file = int(8_030_261_248 * 4.90 / 8)  # the Q4_K_M average bits per parameter
    embedding = 128_256 * 4096 // 256 * 144  # Q4_K: 256 weights in 144 bytes
    assert mib(gguf_plan(), "weights") == round((file - embedding) / MIB, 1) == 4408.9


def test_a_tied_model_holds_its_whole_file_on_the_gpu_and_the_embedding_on_the_host() -> None:
    result = gguf_plan(QWEN, quantization="q8_0")
    file = int(1_543_714_304 * 8.52 / 8)
    assert mib(result, "weights") == round(file / MIB, 1)
    embedding = 151_936 * 1536 // 32 * 34  # Q8_0: 32 weights in 34 bytes, 236.5 MiB
    assert result.notes[0].startswith(
        f"host memory: the token embedding ({embedding / MIB:.0f} MiB)"
    )


def test_llama_cpp_context_is_the_total_its_slots_share() -> None:
    result = gguf_plan(context_length=8192, concurrency=4)
    # 4 slots × 8,192 cells × 32 layers × (K + V) 8 KV heads × 128 × 2 B
    assert mib(result, "kv_cache") == 4 * 8192 * 32 * 2 * 8 * 128 * 2 / MIB == 4096.0
    assert "--ctx-size 32768 --parallel 4" in " ".join(result.flags)
    assert result.kv_cache_tokens == 32768


def test_ollama_context_is_per_slot_with_the_same_cache() -> None:
    result = gguf_plan(engine="ollama", context_length=8192, concurrency=4)
    assert mib(result, "kv_cache") == 4096.0
    assert "OLLAMA_CONTEXT_LENGTH=8192 OLLAMA_NUM_PARALLEL=4" in " ".join(result.flags)


def test_each_llama_cpp_slot_is_padded_to_256_cells() -> None:
    result = gguf_plan(context_length=1000, concurrency=2)
    assert result.kv_cache_tokens == 2 * 1024
    assert mib(result, "kv_cache") == 2 * 1024 * 32 * 2 * 8 * 128 * 2 / MIB == 256.0


def test_a_q8_0_kv_cache_takes_34_bytes_per_32_values() -> None:
    result = gguf_plan(context_length=8192, concurrency=4, kv_cache_dtype="q8_0")
    assert mib(result, "kv_cache") == 4096.0 * 34 / 64 == 2176.0


def test_with_flash_attention_the_compute_buffer_is_the_feed_forward_step() -> None:
    def ffn(cells: int) -> float:  # batch 512 × (f32 × 3 × (ffn + hidden) + f16 mask × cells)
        return 512 * (4 * 3 * (14336 + 4096) + 2 * cells) / MIB

    assert mib(gguf_plan(context_length=8192), "compute_buffer") == ffn(8192) == 116.0
    assert mib(gguf_plan(context_length=32768), "compute_buffer") == ffn(32768) == 140.0


def test_without_flash_attention_the_compute_buffer_grows_with_the_slot_context() -> None:
    def scores(cells: int) -> float:  # f32 × batch × (cells × (32 heads + mask) + 4 h + 2 kv)
        return 4 * 512 * (cells * 33 + 4 * 4096 + 2 * 8 * 128) / MIB

    off: dict[str, Any] = {"flash_attention": False}
    assert mib(gguf_plan(context_length=8192, **off), "compute_buffer") == scores(8192) == 564.0
    assert mib(gguf_plan(context_length=32768, **off), "compute_buffer") == scores(32768) == 2148.0
    # four slots of 8,192: llama.cpp attends within a slot's stream, Ollama over its one cache
    four: dict[str, Any] = {"context_length": 8192, "concurrency": 4, **off}
    assert mib(gguf_plan(**four), "compute_buffer") == scores(8192)
    assert mib(gguf_plan(engine="ollama", **four), "compute_buffer") == scores(32768)


def test_a_short_context_without_flash_attention_peaks_in_the_feed_forward_step() -> None:
    result = gguf_plan(context_length=512, flash_attention=False)
    ffn = 512 * (4 * 3 * (14336 + 4096) + 4 * 512) / MIB  # f32 mask without the kernel
    assert ffn > 4 * 512 * (512 * 33 + 4 * 4096 + 2 * 8 * 128) / MIB  # the scores, 69 MiB
    assert mib(result, "compute_buffer") == ffn == 109.0


def test_a_moe_feed_forward_step_is_as_wide_as_the_experts_a_token_takes() -> None:
    spec = lookup("qwen3:30b").spec()  # 8 of 128 experts of 768, no shared expert
    result = gguf_plan("qwen3:30b", context_length=4096)
    width = 8 * 768
    expected = 512 * (4 * 3 * (width + spec.hidden_size) + 2 * 4096) / MIB
    assert mib(result, "compute_buffer") == round(expected, 1)


def test_the_process_holds_a_fixed_overhead_more_without_flash_attention() -> None:
    assert mib(gguf_plan(), "process_overhead") == 602.0
    off = gguf_plan(flash_attention=False)
    assert mib(off, "process_overhead") == 940.0
    assert "--flash-attn off" in off.flags


def test_the_process_memory_is_what_the_breakdown_adds_up_to() -> None:
    result = gguf_plan(context_length=8192, concurrency=4)
    assert result.holds_mib == result.need_mib == result.start_mib
    assert result.holds_mib == pytest.approx(4408.9 + 4096.0 + 116.0 + 602.0, abs=0.1)


def test_ollama_starts_with_its_minimum_free_and_holds_what_fits() -> None:
    small = GpuTarget("NVIDIA L4", 23_034.0, 3000.0)
    result = gguf_plan(engine="ollama", gpu=small, context_length=8192, concurrency=4)
    assert result.start_mib == 457
    assert result.holds_mib == 3000.0 - 457
    assert result.notes[-1].startswith("partial offload: about ")


def test_llama_cpp_past_free_memory_does_not_start() -> None:
    small = GpuTarget("NVIDIA L4", 23_034.0, 3000.0)
    result = gguf_plan(gpu=small, context_length=8192)
    assert not result.starts(3000.0)


def test_a_quantized_kv_cache_without_flash_attention_is_refused() -> None:
    with pytest.raises(InputError, match=r"^kv_cache_dtype: a q8_0 KV cache needs flash attention"):
        gguf_plan(kv_cache_dtype="q8_0", flash_attention=False)


def test_an_engine_without_a_flash_attention_switch_refuses_it_off() -> None:
    request = VramRequest(model=LLAMA, engine="vllm", flash_attention=False)
    with pytest.raises(InputError, match=r"^flash_attention: vllm has no switch for it"):
        settings_for(request, lookup(LLAMA).spec(), 1)
