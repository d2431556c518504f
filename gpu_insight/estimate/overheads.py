"""Fixed per-process and per-GPU costs that no weight or KV formula covers."""

from __future__ import annotations

MIB = 2**20
GIB = 2**30
# CUDA context + cuBLAS/cuDNN handles of a torch process: NVML-used minus torch-reserved was
# 694–698 MiB on an H100 (torch 2.11 / CUDA 13, bench/results/vram_validation-*-h100.json).
TORCH_PROCESS_MIB = 696
# vLLM's measured "non-torch increase": ~0.2–0.3 GiB at TP 1; NCCL/custom all-reduce at TP > 1.
VLLM_NON_TORCH_MIB = {1: 256, 2: 800}
# vLLM CUDA graphs, counted since v0.21: 0.84 GiB logged for a dense 8B with 1024 max seqs,
# ~0.4 GiB with the 256-seq defaults of smaller GPUs; logs range 0.07–2.35 GiB.
VLLM_CUDA_GRAPHS_MIB = {"large": 860, "small": 410}
# Ollama keeps this much free per CUDA GPU (ml/device.go MinimumMemory).
OLLAMA_MINIMUM_MIB = 457
# llama.cpp `--fit` default margin per device.
LLAMA_CPP_FIT_MARGIN_MIB = 1024
# Headroom we leave when suggesting a vLLM utilization on a shared GPU.
SAFETY_MARGIN_MIB = 1024


def vllm_non_torch_mib(tensor_parallel: int) -> int:
    return VLLM_NON_TORCH_MIB[1 if tensor_parallel == 1 else 2]
