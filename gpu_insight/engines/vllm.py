"""vLLM: `vllm serve` flags, the defaults its memory profile runs with, how its processes look.

Flags: vLLM's engine-args docs (`vllm serve --help`). It reserves `gpu_memory_utilization` ×
*total* memory and refuses to start when less than that is free (v1/worker/gpu_worker.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_insight.engines.facts import ServingEngine, Start

DEFAULT_MEMORY_FRACTION = 0.9


@dataclass(frozen=True)
class SchedulerDefaults:
    """`vllm serve`'s token budget per forward and running-sequence cap; the profile run that
    sizes the KV pool uses both (engine/arg_utils.py `get_batch_defaults`)."""

    max_num_batched_tokens: int
    max_num_seqs: int


LARGE_GPU_SCHEDULER = SchedulerDefaults(max_num_batched_tokens=8192, max_num_seqs=1024)
SMALL_GPU_SCHEDULER = SchedulerDefaults(max_num_batched_tokens=2048, max_num_seqs=256)
LARGE_GPU_MIN_MIB = 70 * 1024


def scheduler_defaults(gpu_name: str | None, total_mib: float | None) -> SchedulerDefaults:
    """The large-GPU defaults from 70 GiB up except on A100s (arg_utils checks the device
    name), and when the GPU is not known; the small ones otherwise."""
    if total_mib is None or (total_mib >= LARGE_GPU_MIN_MIB and "A100" not in (gpu_name or "")):
        return LARGE_GPU_SCHEDULER
    return SMALL_GPU_SCHEDULER


VLLM = ServingEngine(
    name="vllm",
    label="vLLM",
    flags={
        "memory_fraction": "--gpu-memory-utilization {value:.2f}",
        "max_context": "--max-model-len {value}",
        "max_sequences": "--max-num-seqs {value}",
        "tensor_parallel": "--tensor-parallel-size {value}",
        "pipeline_parallel": "--pipeline-parallel-size {value}",
        "data_parallel": "--data-parallel-size {value}",
        "quantization": "--quantization {value}",
        "kv_cache_dtype": "--kv-cache-dtype {value}",
        "enforce_eager": "--enforce-eager",
        "api_servers": "--api-server-count {value}",
        "dtype": "--dtype {value}",
        "prefix_caching": "--enable-prefix-caching",
        "prefix_caching_off": "--no-enable-prefix-caching",
        "batched_tokens": "--max-num-batched-tokens {value}",
        "expert_parallel": "--enable-expert-parallel",
        "cpu_offload": "--cpu-offload-gb {value}",
        # multimodal budget (docs: conserving_memory.md, "Multi-modal input limits")
        "images_per_prompt": "--limit-mm-per-prompt '{{\"image\": {value}}}'",
        "max_image_pixels": "--mm-processor-kwargs '{{\"max_pixels\": {value}}}'",
    },
    kv_cache_dtypes={"fp8": "fp8"},  # `fp8` is E4M3 (quantized_kvcache docs)
    quantizations={"fp8": "fp8", "awq": "awq", "gptq": "gptq", "nf4": "bitsandbytes"},
    starts=(
        Start(
            "vllm",
            subcommands=("serve",),
            model_positional=True,
            model_options=("--model",),
            served_name_options=("--served-model-name",),
        ),
        Start(
            "vllm.entrypoints",
            module=True,
            package=True,
            model_options=("--model",),
            served_name_options=("--served-model-name",),
        ),
    ),
    worker_titles=("VLLM::",),
    default_port=8000,
    default_memory_fraction=DEFAULT_MEMORY_FRACTION,
    fills_gpu_memory=True,
)
