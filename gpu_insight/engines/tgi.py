"""Hugging Face Text Generation Inference: `text-generation-launcher` flags and defaults.

Flags: docs/source/reference/launcher.md. After a warmup prefill TGI fills the memory that is
free, down to (1 − CUDA_MEMORY_FRACTION × TGI_WIGGLE_ROOM) of total, with KV blocks
(server/text_generation_server/models/globals.py, flash_causal_lm.py).
"""

from __future__ import annotations

from gpu_insight.engines.facts import ServingEngine, Start

WIGGLE_ROOM = 0.9  # TGI_WIGGLE_ROOM; CUDA_MEMORY_FRACTION defaults to 1.0
MAX_BATCH_PREFILL_TOKENS = 4096  # the warmup batch

TGI = ServingEngine(
    name="tgi",
    label="TGI",
    flags={
        # The router refuses max_input_tokens ≥ max_total_tokens: both are given.
        "max_context": "--max-input-tokens {prompt_tokens} --max-total-tokens {value}",
        "max_sequences": "--max-concurrent-requests {value}",
        "tensor_parallel": "--num-shard {value}",
        "quantization": "--quantize {value}",
        "kv_cache_dtype": "--kv-cache-dtype {value}",
        "enforce_eager": "--cuda-graphs 0",
        "dtype": "--dtype {value}",
    },
    kv_cache_dtypes={"fp8": "fp8_e4m3fn"},
    quantizations={"fp8": "fp8", "awq": "awq", "gptq": "gptq", "nf4": "bitsandbytes-nf4"},
    starts=(
        Start("text-generation-launcher", model_options=("--model-id",)),
        Start("text-generation-server", subcommands=("serve",), model_positional=True, worker=True),
    ),
    port_options=("--port", "-p"),
    default_port=3000,
    container_port=80,  # the official image sets PORT=80
    fills_gpu_memory=True,
)
