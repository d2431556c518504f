"""Fixed per-process and per-GPU costs that no weight or KV formula covers."""

from __future__ import annotations

from gpu_insight.engines.vllm import ModelRunner

MIB = 2**20
GIB = 2**30
# CUDA context + cuBLAS/cuDNN handles of a torch process: NVML-used minus torch-reserved was
# 694–698 MiB on an H100 (torch 2.11 / CUDA 13, bench/results/vram_validation-*-h100.json).
TORCH_PROCESS_MIB = 696
# Headroom we leave when suggesting a memory fraction on a shared GPU.
SAFETY_MARGIN_MIB = 1024

# vLLM 0.24 on an H200 (torch 2.11 / CUDA 13; bench/results/engine_validation-2026-12-01-h200.json
# and its start logs). The engine core's CUDA context (and NCCL's setup) exists before the
# worker takes its memory snapshot (v1/worker/gpu_worker.py `init_device`), so it sits outside
# gpu_memory_utilization: free memory fell 0.51 GiB there.
VLLM_CUDA_CONTEXT_MIB = 522
# Memory outside torch that the profile run adds (cuBLAS workspaces, loaded kernels), counted in
# the budget (utils/mem_utils.py `non_torch_increase`): ~210 MiB on V1 and eager V2; V2's
# compiled graphs add ~238 MiB; NCCL and custom all-reduce buffers at TP > 1 another ~544 MiB
# (public TP-2 logs: 0.8 GiB in all).
VLLM_NON_TORCH_MIB = 210
VLLM_V2_COMPILED_NON_TORCH_MIB = 238
VLLM_TP_NON_TORCH_MIB = 544
# CUDA graphs, 51 batch sizes × PIECEWISE and FULL, per decoder layer: "Graph capturing ...
# took" 0.33–0.83 GiB on V1 (14–18 MiB a layer), 0.90–1.00 GiB on V2 (28–31 MiB a layer).
VLLM_CUDA_GRAPH_MIB_PER_LAYER: dict[ModelRunner, int] = {"v1": 17, "v2": 30}
# V1 budgets its own estimate before the KV cache ("Estimated CUDA graph memory" 0.35–0.64
# GiB: 12–15 MiB a layer); V2 estimates nothing (gpu/model_runner.py `profile_cudagraph_memory`).
VLLM_V1_GRAPH_ESTIMATE_MIB_PER_LAYER = 13
# A V1 engine core holds 0.2–0.3 GiB more than its budget, context, graphs and warm-up explain
# (torch's cache slack and the runner's buffers): the mean of the three V1 readings.
VLLM_V1_UNPROFILED_MIB = 270


def vllm_non_torch_mib(tensor_parallel: int, runner: ModelRunner, compiled: bool) -> int:
    tp = VLLM_TP_NON_TORCH_MIB if tensor_parallel > 1 else 0
    v2 = VLLM_V2_COMPILED_NON_TORCH_MIB if runner == "v2" and compiled else 0
    return VLLM_NON_TORCH_MIB + v2 + tp


def vllm_cuda_graphs_mib(layers: int, runner: ModelRunner) -> int:
    return VLLM_CUDA_GRAPH_MIB_PER_LAYER[runner] * layers
