"""vLLM: `vllm serve` flags, the defaults its memory profile runs with, how its processes look.

Source paths below are vLLM 0.24.0's (the version measured on the H200).

Flags: vLLM's engine-args docs (`vllm serve --help`). It reserves `gpu_memory_utilization` ×
*total* memory and refuses to start when less than that is free (v1/worker/gpu_worker.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gpu_insight.engines.facts import ServingEngine, Start

DEFAULT_MEMORY_FRACTION = 0.9
ModelRunner = Literal["v1", "v2"]
# Tokens per KV block (config/cache.py `block_size`; the H200 runs' cache_config_info: 16).
KV_BLOCK_SIZE = 16
# Model Runner V2 is the default for these architectures (config/vllm.py
# DEFAULT_V2_MODEL_RUNNER_ARCHITECTURES: Llama, Mistral, Qwen3, Qwen2-MoE, DeepSeek-V2,
# GraniteMoE), named here by the config model_type of each; the rest run on V1.
V2_MODEL_RUNNER_MODEL_TYPES = frozenset(
    {"llama", "mistral", "qwen3", "qwen2_moe", "deepseek_v2", "granitemoe"}
)
# The hybrid KV manager groups local and global layers by the smaller count, or by the larger
# one when it is under 1.5 × the smaller (v1/core/kv_cache_utils.py
# `_get_kv_cache_groups_uniform_page_size`).
HYBRID_GROUP_SPREAD = 1.5
# Model Runner V2's warm-up prefills requests of decode_query_len + 1 = 2 tokens each, with
# every sampling feature on (v1/worker/gpu/warmup.py `warmup_kernels`).
V2_WARMUP_PROMPT_TOKENS = 2


def model_runner(model_type: str) -> ModelRunner:
    """The model runner vLLM 0.24 picks for a model (v1/worker/gpu_worker.py logs "Using V2
    Model Runner" when it is V2)."""
    return "v2" if model_type in V2_MODEL_RUNNER_MODEL_TYPES else "v1"


@dataclass(frozen=True)
class SchedulerDefaults:
    """`vllm serve`'s token budget per forward and running-sequence cap; the profile run that
    sizes the KV pool uses both (engine/arg_utils.py `get_batch_defaults`)."""

    max_num_batched_tokens: int
    max_num_seqs: int

    @property
    def profiled_sequences(self) -> int:
        """Requests in the profile run's dummy batch, one sampled row each (`_dummy_run`:
        min(num_tokens, max_num_reqs))."""
        return min(self.max_num_seqs, self.max_num_batched_tokens)


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
