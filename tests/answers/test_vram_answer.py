"""vram_check's answer: one line that never says "fits" for work the engine cannot serve, and
variables that agree with the JSON."""

from __future__ import annotations

from gpu_insight.answers.vram import VramAnswer, answer_vram, parse_vram_request
from gpu_insight.estimate import estimate
from gpu_insight.schemas import Snapshot
from gpu_insight.sources.fleet import Gathered
from tests.support.gpus import h100


def one_h100() -> Gathered[Snapshot]:
    return Gathered(Snapshot(host="h100-bench", source="nvml", collected_at=0.0, gpus=[h100()]))


def ask(**params: object) -> VramAnswer:
    return answer_vram(parse_vram_request(params), one_h100)


def test_an_engine_that_starts_short_of_the_work_is_said_to_start_not_to_fit() -> None:
    answer = ask(
        model="meta-llama/Llama-3.1-70B-Instruct",
        quantization="awq",
        context_length="16384",
        concurrency="8",
    )
    text = answer.text()
    assert "fits" not in text.split(" Would fit: ")[0]
    estimate = answer.estimate
    held = estimate.max_context_tokens
    served = estimate.max_concurrency
    assert (
        f"starts now on GPU 0 on h100-bench, but holds {held:,} tokens × 8, not 16,384 tokens × "
        f"8; at 16,384 tokens it serves {served} sequence"
    ) in text
    assert text.endswith(f"Would fit: {estimate.alternatives[0].text}.")


def test_the_variables_say_what_the_json_says() -> None:
    answer = ask(
        model="meta-llama/Llama-3.1-70B-Instruct",
        quantization="awq",
        context_length=16384,
        concurrency=8,
    )
    variables, estimate = answer.variables(), answer.estimate
    assert variables["fits"] is False and variables["starts"] is True
    assert variables["max_concurrency"] == estimate.max_concurrency
    assert variables["kv_cache_tokens"] == estimate.kv_cache_tokens
    assert variables["max_context_tokens"] == estimate.max_context_tokens
    assert variables["alternative"] == estimate.alternatives[0].text
    assert variables["required_mib"] == estimate.required_mib == estimate.process_mib


def test_a_request_that_fits_says_so_with_its_kv_cache() -> None:
    answer = ask(model="qwen2.5:7b", context_length=32768)
    estimate = answer.estimate
    assert estimate.fits is True
    assert answer.text().startswith(
        "Qwen/Qwen2.5-7B-Instruct on vllm (bf16, 32,768 tokens × 1) needs "
    )
    held = f"{estimate.process_mib:,.0f} MiB"
    assert f"fits now on GPU 0 on h100-bench: holds {held}" in answer.text()
    assert f"KV cache of {estimate.kv_cache_tokens:,} tokens" in answer.text()
    assert answer.variables()["alternative"] == ""


def test_a_model_that_does_not_start_says_so_and_what_would_fit() -> None:
    answer = ask(model="Qwen/Qwen3-30B-A3B", context_length=32768)
    text = answer.text()
    assert "it does not start on any GPU now: ValueError: No available memory" in text
    assert "Would fit: an FP8 checkpoint (quantization=fp8)" in text
    assert answer.variables()["starts"] is False


def test_a_gpu_type_is_planned_without_reading_the_collector() -> None:
    def no_collector() -> Gathered[Snapshot]:
        raise AssertionError("a planned answer reads no collector")

    request = parse_vram_request({"model": "qwen3:30b", "gpu_type": "H200"})
    answer = answer_vram(request, no_collector)
    assert answer.estimate.gpu_type == "NVIDIA H200 141GB"
    assert "fits on 1 empty NVIDIA H200 141GB (planned)" in answer.text()
    assert answer.variables()["best_gpu"] == "0"


def test_a_plan_over_more_gpus_than_its_need_names_the_need_for_one_gpu() -> None:
    request = parse_vram_request({"model": "llama4:scout", "gpu_type": "H200"})
    answer = answer_vram(request, None)
    estimate = answer.estimate
    assert estimate.placement is not None and estimate.placement.tensor_parallel == 2
    need = f"{estimate.need_mib_per_gpu:,.0f}"
    held = f"{estimate.placement.process_mib:,.0f}"
    assert f"needs {need} MiB on one GPU; fits on 2 empty NVIDIA H200 141GB boards" in answer.text()
    assert f"holds {held} MiB per GPU" in answer.text()


def test_flash_attention_off_reaches_the_llama_cpp_plan() -> None:
    request = parse_vram_request(
        {"model": "llama3.1:8b", "engine": "llama.cpp", "flash_attention": "false"}
    )
    assert request.flash_attention is False
    assert "--flash-attn off" in estimate(request).flags
