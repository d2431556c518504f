"""vLLM's memory: weights + the profile run's activation peak + non-torch buffers + CUDA graphs,
and the rest of `gpu_memory_utilization` × total becomes the KV pool. The CUDA context exists
before vLLM's baseline measurement, so the process holds it beside that share."""

from __future__ import annotations

from gpu_insight.engines.vllm import DEFAULT_MEMORY_FRACTION, scheduler_defaults
from gpu_insight.estimate.activations import vllm_profile_bytes
from gpu_insight.estimate.overheads import (
    MIB,
    TORCH_PROCESS_MIB,
    vllm_cuda_graphs_mib,
    vllm_non_torch_mib,
)
from gpu_insight.estimate.plans import common, startup_errors
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    layout = common.kv_for(s)
    weights, w_line = common.weights_line(s)
    scheduler = scheduler_defaults(gpu.name if gpu else None, gpu.total_mib if gpu else None)
    act, act_text = vllm_profile_bytes(
        s.spec, scheduler.max_num_batched_tokens, scheduler.max_num_seqs, s.tensor_parallel
    )
    non_torch = vllm_non_torch_mib(s.tensor_parallel) * MIB
    graphs = 0 if s.enforce_eager else vllm_cuda_graphs_mib(scheduler) * MIB
    lines = [
        w_line,
        common.line("activation_peak", act, act_text),
        common.line(
            "non_torch",
            non_torch,
            f"NCCL/cuBLAS/attention buffers outside torch (TP {s.tensor_parallel})",
        ),
    ]
    if graphs:
        lines.append(
            common.line(
                "cuda_graphs",
                graphs,
                "CUDA graph pool (logs: 0.07–2.35 GiB; --enforce-eager drops it)",
            )
        )
    fixed = weights + act + non_torch + graphs
    context = TORCH_PROCESS_MIB * MIB
    context_line = common.line(
        "cuda_context", context, "CUDA context, outside gpu_memory_utilization"
    )
    kv_need, k_line = common.kv_line(layout, s.context_length, s.concurrency)
    need = (fixed + kv_need + context) / MIB
    if gpu is None:
        return common.without_gpu(
            s,
            [*lines, k_line, context_line],
            need,
            common.engine_flags(s),
            notes=[
                "vLLM reserves gpu_memory_utilization × total memory and fills what the "
                "model does not use with KV cache"
            ],
        )
    util = s.gpu_memory_utilization or common.fraction_that_fits(
        need, gpu, DEFAULT_MEMORY_FRACTION, outside_mib=TORCH_PROCESS_MIB
    )
    share = util * gpu.total_mib
    holds = share + TORCH_PROCESS_MIB
    budget = share * MIB - fixed
    lines.append(
        common.line(
            "kv_cache_pool",
            max(budget, 0),
            f"{util:.2f} × {gpu.total_mib:,.0f} MiB "
            "total − the lines above (vLLM fills its reservation with KV blocks)",
        )
    )
    lines.append(context_line)
    errors: list[str] = []
    if gpu.free_mib is not None and gpu.free_mib < holds:
        errors.append(
            startup_errors.vllm_free_memory_below_share(
                gpu.free_mib - TORCH_PROCESS_MIB, gpu.total_mib, util, share
            )
        )
    one = layout.sequence_bytes(s.context_length)
    if budget <= 0:
        errors.append(startup_errors.vllm_no_cache_blocks())
    elif one > budget:
        estimated = common.largest_context(layout, budget, 1, s.spec.max_position_embeddings)
        errors.append(
            startup_errors.vllm_sequence_exceeds_pool(s.context_length, one, budget, estimated)
        )
    return common.with_kv_pool(
        s,
        layout,
        budget,
        lines=lines,
        need_mib=need,
        holds_mib=holds,
        start_mib=holds,
        flags=common.engine_flags(s, memory_fraction=util),
        errors=errors,
    )
