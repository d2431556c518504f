"""`fits` means the requested context × concurrency is served: `starts`, the KV cache in
tokens, the largest concurrency and context, what the process holds, and what would fit."""

from __future__ import annotations

import pytest

from gpu_insight.errors import InputError
from gpu_insight.estimate import VramRequest, check_fit, estimate
from gpu_insight.estimate.overheads import TORCH_PROCESS_MIB
from tests.support.gpus import h100

LLAMA_70B_AWQ_16K_X8 = VramRequest(
    model="meta-llama/Llama-3.1-70B-Instruct",
    quantization="awq",
    context_length=16384,
    concurrency=8,
)


def test_an_engine_that_starts_but_holds_fewer_tokens_than_asked_does_not_fit() -> None:
    answer = check_fit(LLAMA_70B_AWQ_16K_X8, [h100()])
    assert answer.starts is True and answer.fits is False
    assert answer.placement is not None and answer.placement.fits is False
    assert answer.max_concurrency is not None and answer.max_concurrency < 8
    # Llama-3.1-70B: 80 layers × 8 KV heads × 128 × 2 (K, V) × 2 B = 320 KiB per token
    assert answer.kv_per_token_kib == 320
    tokens = answer.kv_cache_tokens or 0
    assert answer.max_concurrency == tokens // 16384
    # vLLM hands out KV blocks of 16 tokens, so a sequence's length is counted in blocks
    assert answer.max_context_tokens is not None
    assert tokens // 8 - 16 < answer.max_context_tokens <= tokens // 8


def test_the_kv_cache_tokens_are_the_pool_over_the_bytes_one_token_takes() -> None:
    answer = check_fit(LLAMA_70B_AWQ_16K_X8, [h100()])
    pool_mib = next(line.mib for line in answer.breakdown if line.name == "kv_cache_pool")
    assert answer.kv_cache_tokens == pytest.approx(pool_mib * 1024 / 320, abs=4)


def test_vllm_holds_its_share_of_total_and_its_cuda_context() -> None:
    answer = check_fit(LLAMA_70B_AWQ_16K_X8, [h100()])
    # the fraction lowered to what is free, less what vLLM holds beside it (context, graphs)
    assert "--gpu-memory-utilization 0.56" in answer.flags
    assert answer.process_mib == pytest.approx(sum(line.mib for line in answer.breakdown), abs=1)
    assert answer.process_mib > 0.56 * 81_079 + TORCH_PROCESS_MIB
    assert answer.placement is not None
    assert answer.placement.headroom_mib == pytest.approx(49_878.6 - answer.process_mib, abs=0.1)


def test_an_engine_whose_weights_leave_no_kv_cache_does_not_start() -> None:
    answer = check_fit(VramRequest(model="Qwen/Qwen3-30B-A3B", context_length=32768), [h100()])
    assert answer.starts is False and answer.fits is False and answer.placement is None
    assert answer.errors[0].startswith(
        "does not start: ValueError: No available memory for the cache blocks."
    )


def test_automatic_tensor_parallel_takes_the_fewest_gpus_that_serve_the_work() -> None:
    # One GPU starts the engine but holds 2,590 × 8 tokens; two hold the eight 16k sequences.
    answer = check_fit(LLAMA_70B_AWQ_16K_X8, [h100(0), h100(1)])
    assert answer.fits is True and answer.tensor_parallel == 2
    assert answer.max_concurrency is not None and answer.max_concurrency >= 8


def test_a_request_that_fits_has_no_alternatives() -> None:
    answer = check_fit(VramRequest(model="qwen2.5:7b", context_length=8192), [h100()])
    assert answer.fits is True and answer.alternatives == []


def test_what_would_fit_lists_only_changes_that_fit_when_asked_for() -> None:
    answer = check_fit(LLAMA_70B_AWQ_16K_X8, [h100()])
    assert answer.alternatives
    for alternative in answer.alternatives:
        changed = LLAMA_70B_AWQ_16K_X8.model_copy(update=alternative.parameters)
        if "gpu_type" in alternative.parameters:
            again = estimate(changed)
        else:
            again = check_fit(changed, [h100()])
        assert again.fits is True, alternative.change
        assert again.flags == alternative.flags


def test_a_shorter_context_and_fewer_sequences_are_the_largest_that_fit() -> None:
    answer = check_fit(LLAMA_70B_AWQ_16K_X8, [h100()])
    changes = {a.change: a for a in answer.alternatives}
    context = int(changes["context_length"].parameters["context_length"])
    sequences = int(changes["concurrency"].parameters["concurrency"])
    assert context == answer.max_context_tokens
    assert sequences == answer.max_concurrency
    longer = LLAMA_70B_AWQ_16K_X8.model_copy(update={"context_length": context + 1})
    assert check_fit(longer, [h100()]).fits is False
    assert f"--max-model-len {context}" in changes["context_length"].flags


def test_the_alternatives_come_in_the_order_of_the_smallest_change() -> None:
    # Qwen2.5-7B at 32k × 16 on a 40 GB-free H100: an FP8 KV cache is enough
    request = VramRequest(model="qwen2.5:7b", context_length=32768, concurrency=16)
    answer = check_fit(request, [h100(free_mib=40_000)])
    kinds = [a.change for a in answer.alternatives]
    assert kinds[0] == "kv_cache_dtype" and "--kv-cache-dtype fp8" in answer.alternatives[0].flags
    order = ["kv_cache_dtype", "quantization", "context_length", "concurrency", "gpu_type"]
    assert kinds == [k for k in order if k in kinds]


def test_a_model_too_large_for_the_host_is_offered_a_smaller_checkpoint_or_a_larger_gpu() -> None:
    answer = check_fit(VramRequest(model="Qwen/Qwen3-30B-A3B", context_length=32768), [h100()])
    changes = {a.change: a for a in answer.alternatives}
    assert changes["quantization"].parameters == {"quantization": "fp8"}
    assert "--quantization fp8" in changes["quantization"].flags
    assert changes["gpu_type"].parameters == {"gpu_type": "H200"}
    assert "context_length" not in changes  # nothing starts: a shorter context does not help


def test_a_fixed_tensor_parallel_size_is_offered_more_gpus_of_the_host() -> None:
    request = LLAMA_70B_AWQ_16K_X8.model_copy(update={"tensor_parallel": 1})
    answer = check_fit(request, [h100(i) for i in range(4)])
    changes = {a.change: a for a in answer.alternatives}
    assert changes["tensor_parallel"].parameters == {"tensor_parallel": 2}
    assert "--tensor-parallel-size 2" in changes["tensor_parallel"].flags


def test_a_named_gpu_type_is_planned_on_empty_boards_with_the_same_fields() -> None:
    request = VramRequest(model="Qwen/Qwen3-30B-A3B", context_length=32768, gpu_type="H200")
    answer = estimate(request)
    assert answer.live_data is False and answer.gpu_type == "NVIDIA H200 141GB"
    assert answer.starts is True and answer.fits is True and answer.placement is not None
    assert answer.kv_cache_tokens and answer.max_concurrency and answer.max_concurrency >= 1
    assert answer.process_mib == pytest.approx(sum(line.mib for line in answer.breakdown), abs=1)
    assert answer.process_mib > 0.9 * 143_771 + TORCH_PROCESS_MIB
    assert "--gpu-memory-utilization 0.90" in answer.flags


@pytest.mark.parametrize(
    ("gpu_type", "board"),
    [
        ("h100", "NVIDIA H100 80GB"),
        ("A100-40GB", "NVIDIA A100 40GB"),
        ("a100 80gb", "NVIDIA A100 80GB"),
        ("RTX 4090", "NVIDIA RTX 4090 24GB"),
        ("NVIDIA L40S", "NVIDIA L40S 48GB"),
        ("24576", "24,576 MiB GPU"),
    ],
)
def test_gpu_types_are_named_loosely_or_by_their_memory(gpu_type: str, board: str) -> None:
    answer = estimate(VramRequest(model="qwen2.5:0.5b", gpu_type=gpu_type))
    assert answer.gpu_type == board


def test_a_board_of_many_gpus_is_planned_with_tensor_parallel() -> None:
    answer = estimate(VramRequest(model="llama3.3:70b", context_length=8192, gpu_type="L40S"))
    assert answer.fits is True and answer.tensor_parallel == 4
    assert "--tensor-parallel-size 4" in answer.flags


@pytest.mark.parametrize(
    ("gpu_type", "message"), [("H300", "not a known GPU"), ("12", "out of range")]
)
def test_an_unknown_gpu_type_names_the_parameter_and_what_is_accepted(
    gpu_type: str, message: str
) -> None:
    with pytest.raises(InputError, match=rf"^gpu_type: .*{message}") as error:
        estimate(VramRequest(model="qwen2.5:7b", gpu_type=gpu_type))
    assert error.value.parameter == "gpu_type"
    if message == "not a known GPU":
        assert "H200, " in str(error.value) and "RTX 4090" in str(error.value)


def test_transformers_serves_the_largest_batch_whose_prefill_peak_fits() -> None:
    request = VramRequest(
        model="qwen2.5:7b", engine="transformers", context_length=8192, concurrency=64
    )
    answer = check_fit(request, [h100(free_mib=30_000)])
    assert answer.starts is True and answer.fits is False
    batch = answer.max_concurrency or 0
    assert 0 < batch < 64
    fewer = request.model_copy(update={"concurrency": batch})
    assert check_fit(fewer, [h100(free_mib=30_000)]).fits is True


def test_an_embedding_model_without_kv_cache_fits_once_it_starts() -> None:
    answer = check_fit(VramRequest(model="bge-m3", concurrency=32), [h100(free_mib=20_000)])
    assert answer.fits is True and answer.kv_cache_tokens == 0
    assert answer.max_concurrency == 32
