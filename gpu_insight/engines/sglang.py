"""SGLang: `python -m sglang.launch_server` flags and defaults.

Flags: SGLang's docs/advanced_features/server_arguments.md. Its static pool,
`mem_fraction_static` × total memory, holds the weights and the KV cache; activations and CUDA
graphs live outside it (hyperparameter_tuning.md).
"""

from __future__ import annotations

from gpu_insight.engines.facts import ServingEngine, Start

# SGLang picks mem_fraction_static per GPU size when none is given; 0.85 is typical for 40–80 GB.
DEFAULT_MEM_FRACTION_STATIC = 0.85
CHUNKED_PREFILL_TOKENS = 8192  # --chunked-prefill-size default on large GPUs

SGLANG = ServingEngine(
    name="sglang",
    label="SGLang",
    flags={
        "memory_fraction": "--mem-fraction-static {value:.2f}",
        "max_context": "--context-length {value}",
        "max_sequences": "--max-running-requests {value}",
        "tensor_parallel": "--tp-size {value}",
        "pipeline_parallel": "--pp-size {value}",
        "data_parallel": "--dp-size {value}",
        "quantization": "--quantization {value}",
        "kv_cache_dtype": "--kv-cache-dtype {value}",
        "enforce_eager": "--disable-cuda-graph",
        "dtype": "--dtype {value}",
        # the radix (prefix) cache is on unless this is given
        "prefix_caching_off": "--disable-radix-cache",
        "batched_tokens": "--chunked-prefill-size {value}",
        "expert_parallel": "--ep-size {value}",
        "cpu_offload": "--cpu-offload-gb {value}",
    },
    # --kv-cache-dtype takes fp8_e5m2 or fp8_e4m3 (server_arguments.md); SGLang recommends
    # fp8_e4m3 for its accuracy (docs/advanced_features/quantized_kv_cache.md, "Best
    # Practices"), the format vLLM's `fp8` means too.
    kv_cache_dtypes={"fp8": "fp8_e4m3"},
    quantizations={"fp8": "fp8", "awq": "awq", "gptq": "gptq"},
    starts=(
        Start(
            "sglang.launch_server",
            module=True,
            model_options=("--model-path", "--model"),
            served_name_options=("--served-model-name",),
        ),
        Start(
            "sglang",
            subcommands=("serve",),
            model_options=("--model-path", "--model"),
            served_name_options=("--served-model-name",),
        ),
    ),
    worker_titles=("sglang::",),
    default_port=30000,
    default_memory_fraction=DEFAULT_MEM_FRACTION_STATIC,
    fills_gpu_memory=True,
)
