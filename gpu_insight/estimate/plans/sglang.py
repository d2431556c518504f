"""SGLang's memory: a static pool of `mem_fraction_static` × total holds the weights and the KV
cache; the chunked-prefill activations, CUDA graphs and the process context sit outside it."""

from __future__ import annotations

from gpu_insight.engines.sglang import CHUNKED_PREFILL_TOKENS, DEFAULT_MEM_FRACTION_STATIC
from gpu_insight.estimate.activations import prefill_bytes
from gpu_insight.estimate.overheads import MIB, TORCH_PROCESS_MIB, vllm_cuda_graphs_mib
from gpu_insight.estimate.plans import common, startup_errors
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    layout = common.kv_for(s)
    weights, w_line = common.weights_line(s)
    act = prefill_bytes(s.spec, CHUNKED_PREFILL_TOKENS, 2, s.tensor_parallel)
    # SGLang logs no graph size of its own; its graphs are sized like vLLM V1's per layer.
    graphs = 0 if s.enforce_eager else vllm_cuda_graphs_mib(s.spec.num_layers, "v1") * MIB
    outside = act + graphs + TORCH_PROCESS_MIB * MIB
    kv_need, k_line = common.kv_line(layout, s.context_length, s.concurrency)
    lines = [
        w_line,
        common.line(
            "activations",
            act,
            f"chunked prefill {CHUNKED_PREFILL_TOKENS} tokens × (3·I/TP + 4·h) × 2 B",
        ),
        common.line("cuda_graphs", graphs, "CUDA graph pool (estimate)"),
        common.line("cuda_context", TORCH_PROCESS_MIB * MIB, "CUDA context per process"),
    ]
    need = (weights + kv_need + outside) / MIB
    if gpu is None:
        return common.without_gpu(s, [*lines, k_line], need, common.engine_flags(s))
    fraction = s.gpu_memory_utilization or min(
        DEFAULT_MEM_FRACTION_STATIC,
        common.fraction_that_fits(need, gpu, DEFAULT_MEM_FRACTION_STATIC, outside / MIB),
    )
    pool = fraction * gpu.total_mib * MIB - weights
    holds = fraction * gpu.total_mib + outside / MIB
    lines.append(
        common.line(
            "kv_cache_pool",
            max(pool, 0),
            f"{fraction:.2f} × {gpu.total_mib:,.0f} MiB total − weights (mem_fraction_static)",
        )
    )
    errors = []
    if pool <= layout.sequence_bytes(s.context_length):
        errors.append(startup_errors.sglang_pool_too_small())
    if gpu.free_mib is not None and gpu.free_mib < holds:
        errors.append(startup_errors.reservation_exceeds_free(holds, gpu.free_mib))
    return common.with_kv_pool(
        s,
        layout,
        pool,
        lines=lines,
        need_mib=need,
        holds_mib=holds,
        start_mib=holds,
        flags=common.engine_flags(s, memory_fraction=fraction),
        errors=errors,
    )
