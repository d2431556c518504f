"""The startup failures a plan predicts, in each engine's own words (so a user can search for
the message the engine will print)."""

from __future__ import annotations

from gpu_insight.engines.tgi import MAX_BATCH_PREFILL_TOKENS
from gpu_insight.estimate.overheads import GIB


def vllm_free_memory_below_share(
    free_mib: float, total_mib: float, fraction: float, holds_mib: float
) -> str:
    """v1/worker/gpu_worker.py: the reservation is a share of total, checked against free."""
    return (
        f"ValueError: Free memory on device ({free_mib / 1024:.2f}/{total_mib / 1024:.2f} GiB) "
        f"on startup is less than desired GPU memory utilization ({fraction:.2f}, "
        f"{holds_mib / 1024:.2f} GiB). Decrease GPU memory utilization or reduce GPU memory "
        "used by other processes."
    )


def vllm_no_cache_blocks() -> str:
    return (
        "ValueError: No available memory for the cache blocks. Try increasing "
        "`gpu_memory_utilization` when initializing the engine."
    )


def vllm_sequence_exceeds_pool(
    max_model_len: int, sequence_bytes: float, pool_bytes: float, estimated_max_len: int
) -> str:
    """v1/core/kv_cache_utils.py: one full-length request must fit the KV pool."""
    return (
        f"ValueError: To serve at least one request with the model's max seq len "
        f"({max_model_len}), ({sequence_bytes / GIB:.2f} GiB KV cache is needed, which is "
        f"larger than the available KV cache memory ({pool_bytes / GIB:.2f} GiB). Based on the "
        f"available memory, the estimated maximum model length is {estimated_max_len}. Try "
        "increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing "
        "the engine."
    )


def sglang_pool_too_small() -> str:
    return "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."


def reservation_exceeds_free(holds_mib: float, free_mib: float) -> str:
    return f"needs {holds_mib:,.0f} MiB per GPU but {free_mib:,.0f} MiB are free"


def tgi_warmup_fails() -> str:
    """flash_causal_lm.py warmup: the prefill batch plus one sequence's KV must fit."""
    return (
        f"Not enough memory to handle {MAX_BATCH_PREFILL_TOKENS} prefill tokens. You need to "
        "decrease `--max-batch-prefill-tokens`"
    )
