"""Ollama and llama.cpp, the GGUF servers: settings, defaults, processes and what they hold.

Ollama is told its settings by environment variables (docs/faq.md); llama.cpp's `llama-server`
by flags (tools/server/README.md). Both allocate the KV cache for context × parallel slots when
the model loads: llama.cpp's `--ctx-size` is the total the slots share, Ollama's `num_ctx` is
per slot ("a 2K context with 4 parallel requests will result in an 8K context", docs/faq.mdx).
Quantized KV types need flash attention.

With every layer on the GPU (llama.cpp `-ngl 99`, Ollama's full offload) the input layer, the
token embedding, stays in host memory (llama.cpp's `CPU_Mapped` model buffer): the GPU holds
the rest of the file. A tied model's output matrix is that same tensor, so the GPU holds a copy
of it beside the host's. Ollama's ggml backend places them alike (ml/backend/ggml/ggml.go:
inputs always on the CPU, a tied `token_embd` created again as `output.weight`). On the GPU
come then the KV cache, the compute buffer of one batch of `LLAMA_CPP_BATCH` tokens (llama.cpp's
graph reserve), and the process's CUDA context, cuBLAS workspaces and memory pool, outside
llama.cpp's own accounting.
"""

from __future__ import annotations

from gpu_insight.engines.facts import ServingEngine, Start

# Ollama keeps this much free per CUDA GPU (ml/device.go MinimumMemory).
OLLAMA_MINIMUM_MIB = 457
LLAMA_CPP_BATCH = 512  # tokens per compute-graph batch (n_ubatch default)
LLAMA_CPP_KV_PAD = 256  # each slot's KV cells are rounded up to this (llama-context.cpp)
# Flash attention: llama.cpp's `-fa auto` and Ollama turn it on where the GPU backend has the
# kernel, as CUDA does; without it the compute buffer holds each layer's attention scores.
FLASH_ATTENTION_DEFAULT = True
# What the server process holds on the GPU beyond llama.cpp's model, KV and compute buffers
# (CUDA context, cuBLAS, the CUDA pool) once it has served, by flash attention on / off:
# llama-server 0c1e57098 on an H200 (driver 580), 600–605 MiB over six cases with it, 933–949
# over two without (589 MiB at start either way; without it the CUDA pool grows by ~350 MiB
# with the first long prompts). bench/results/llamacpp_validation-2026-12-01-h200.json.
PROCESS_OVERHEAD_MIB = {True: 602.0, False: 940.0}
# llama.cpp gives each of `--parallel N` slots its own KV stream (no --kv-unified), so one
# slot's attention spans its own cells; Ollama's cache is one for all its slots.
ATTENTION_SPANS_ONE_SLOT = frozenset({"llama.cpp"})
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
        "flash_attention_off": "OLLAMA_FLASH_ATTENTION=0",
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
        "flash_attention_off": "--flash-attn off",
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
