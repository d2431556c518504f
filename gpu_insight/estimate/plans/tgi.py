"""TGI's memory: a warmup prefill, then KV blocks fill free memory down to 10 % of total."""

from __future__ import annotations

from gpu_insight.engines.tgi import MAX_BATCH_PREFILL_TOKENS, WIGGLE_ROOM
from gpu_insight.estimate.activations import prefill_bytes
from gpu_insight.estimate.overheads import MIB, TORCH_PROCESS_MIB
from gpu_insight.estimate.plans import common, startup_errors
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    layout = common.kv_for(s, honour_sliding=False)
    weights, w_line = common.weights_line(s)
    act = prefill_bytes(s.spec, MAX_BATCH_PREFILL_TOKENS, 2, s.tensor_parallel)
    kv_need, k_line = common.kv_line(layout, s.context_length, s.concurrency)
    lines = [
        w_line,
        common.line(
            "activations",
            act,
            f"--max-batch-prefill-tokens {MAX_BATCH_PREFILL_TOKENS} warmup × (3·I/TP + 4·h) × 2 B",
        ),
        common.line("cuda_context", TORCH_PROCESS_MIB * MIB, "CUDA context per process"),
    ]
    fixed = weights + act + TORCH_PROCESS_MIB * MIB
    need = (fixed + kv_need) / MIB
    flags = common.engine_flags(s)
    if gpu is None:
        return common.without_gpu(s, [*lines, k_line], need, flags)
    free = gpu.free_mib if gpu.free_mib is not None else gpu.total_mib
    kept_free = (1 - WIGGLE_ROOM) * gpu.total_mib
    holds = free - kept_free
    pool = holds * MIB - fixed
    one = layout.sequence_bytes(s.context_length)
    lines.append(
        common.line(
            "kv_cache_pool",
            max(pool, 0),
            f"free {free:,.0f} MiB − 10 % of total "
            f"{gpu.total_mib:,.0f} MiB − the lines above (TGI_WIGGLE_ROOM {WIGGLE_ROOM:.2f})",
        )
    )
    errors = []
    if pool < one:
        errors.append(startup_errors.tgi_warmup_fails())
    return common.with_kv_pool(
        s,
        layout,
        pool,
        lines=lines,
        need_mib=need,
        holds_mib=max(holds, fixed / MIB),
        start_mib=(fixed + one) / MIB + kept_free,
        flags=flags,
        errors=errors,
    )
