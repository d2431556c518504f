"""Ollama and llama.cpp, the GGUF servers: settings, defaults and processes.

Ollama is told its settings by environment variables (docs/faq.md); llama.cpp's `llama-server`
by flags (tools/server/README.md). Both allocate the KV cache for context × parallel slots when
the model loads; quantized KV types need flash attention.
"""

from __future__ import annotations

from gpu_insight.engines.facts import ServingEngine, Start

# Ollama keeps this much free per CUDA GPU (ml/device.go MinimumMemory).
OLLAMA_MINIMUM_MIB = 457
# llama.cpp's `--fit` leaves this much free per device (--fit-target default).
LLAMA_CPP_FIT_MARGIN_MIB = 1024
LLAMA_CPP_BATCH = 512  # tokens per compute-graph batch (n_ubatch default)
DEFAULT_GGUF_TYPE = "q4_k_m"  # what Ollama's default model tags ship
_QUANTIZED_KV = {"q8_0": "q8_0", "q4_0": "q4_0"}
# What Dify's Ollama provider sends per request (api/types.go Options and keep_alive): a
# request's own values win over the server's environment, so every app must agree on them.
OLLAMA_CONTEXT_OPTION = "num_ctx"
OLLAMA_KEEP_ALIVE_OPTION = "keep_alive"
OLLAMA_DEFAULT_KEEP_ALIVE_S = 300.0  # "5m" (envconfig OLLAMA_KEEP_ALIVE)

OLLAMA = ServingEngine(
    name="ollama",
    label="Ollama",
    flags={
        "max_context": "OLLAMA_CONTEXT_LENGTH={value}",
        "max_sequences": "OLLAMA_NUM_PARALLEL={value}",
        "kv_cache_dtype": "OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE={value}",
        "keep_alive": "OLLAMA_KEEP_ALIVE={value}",
    },
    kv_cache_dtypes=_QUANTIZED_KV,
    quantizations={},  # the GGUF type is the model tag's
    starts=(
        Start("ollama", subcommands=("serve",)),
        Start("ollama", subcommands=("runner",), worker=True),
        Start("ollama_llama_server", worker=True),  # the runner of older releases
    ),
    port_options=(),  # it listens where OLLAMA_HOST says
    default_port=11434,
    reads_gguf=True,
    default_quantization=DEFAULT_GGUF_TYPE,
    default_kv_cache_dtype="fp16",
    sizes_kv_per_slot=True,
)

LLAMA_CPP = ServingEngine(
    name="llama.cpp",
    label="llama.cpp",
    flags={
        "max_context": "--ctx-size {value}",
        "max_sequences": "--parallel {value}",
        "kv_cache_dtype": "--flash-attn on --cache-type-k {value} --cache-type-v {value}",
    },
    kv_cache_dtypes=_QUANTIZED_KV,
    quantizations={},  # the GGUF type is the file's
    starts=(
        Start("llama-server", model_options=("-m", "--model", "-hf", "--hf-repo")),
        Start("llama-cpp-server", model_options=("-m", "--model", "-hf", "--hf-repo")),
    ),
    default_port=8080,
    reads_gguf=True,
    default_quantization=DEFAULT_GGUF_TYPE,
    default_kv_cache_dtype="fp16",
    sizes_kv_per_slot=True,
    context_spans_sequences=True,  # --ctx-size is the total over all --parallel slots
    fixed_flags=("--n-gpu-layers 999",),
)
