"""Fixed per-process and per-GPU costs that no weight or KV formula covers."""

from __future__ import annotations

from gpu_insight.engines.vllm import SchedulerDefaults

MIB = 2**20
GIB = 2**30
# CUDA context + cuBLAS/cuDNN handles of a torch process: NVML-used minus torch-reserved was
# 694–698 MiB on an H100 (torch 2.11 / CUDA 13, bench/results/vram_validation-*-h100.json).
TORCH_PROCESS_MIB = 696
# vLLM's measured "non-torch increase": ~0.2–0.3 GiB at TP 1; NCCL/custom all-reduce at TP > 1.
VLLM_NON_TORCH_MIB = {1: 256, 2: 800}
# vLLM CUDA graphs, counted since v0.21, by the max_num_seqs they are captured up to: 0.84 GiB
# logged for a dense 8B with 1024 max seqs, ~0.4 GiB with 256; logs range 0.07–2.35 GiB.
VLLM_CUDA_GRAPHS_MIB = {1024: 860, 256: 410}
# Headroom we leave when suggesting a memory fraction on a shared GPU.
SAFETY_MARGIN_MIB = 1024


def vllm_non_torch_mib(tensor_parallel: int) -> int:
    return VLLM_NON_TORCH_MIB[1 if tensor_parallel == 1 else 2]


def vllm_cuda_graphs_mib(scheduler: SchedulerDefaults) -> int:
    return VLLM_CUDA_GRAPHS_MIB[scheduler.max_num_seqs]
