"""vLLM 0.24's memory on one GPU, as its engine core takes it.

The budget (v1/worker/gpu_worker.py `determine_available_memory`): once its CUDA context exists,
vLLM requests ceil(gpu_memory_utilization × total) and gives the KV cache what is left after the
weights ("Model loading took": the parameters and the rotary cos/sin cache), the torch peak of
its profile run, the non-torch memory that run added (utils/mem_utils.py `memory_profiling`)
and, on Model Runner V1, its CUDA-graph estimate. The pool is cut into blocks of 16 tokens
(v1/core/kv_cache_utils.py `get_kv_cache_config_from_groups`); its "GPU KV cache size" is the
maximum concurrency × max-model-len (`get_kv_cache_capacity`), so sliding-window layers count
only the blocks their window spans.

The process, as NVML shows it, holds that budget less what the profile peak and the graph
estimate only reserved, plus what sits outside it: the CUDA context, the CUDA graphs captured
after the KV cache, and what the warm-up leaves in torch's cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpu_insight.engines.vllm import (
    DEFAULT_MEMORY_FRACTION,
    HYBRID_GROUP_SPREAD,
    KV_BLOCK_SIZE,
    V2_WARMUP_PROMPT_TOKENS,
    ModelRunner,
    SchedulerDefaults,
    model_runner,
    scheduler_defaults,
)
from gpu_insight.estimate.activations import (
    VLLM_PROFILE_SAMPLER_BYTES,
    VLLM_WARMUP_SAMPLER_BYTES,
    vision_encoder_bytes,
    vllm_forward_bytes,
    vllm_moe_workspace_bytes,
    vllm_sampler_bytes,
)
from gpu_insight.estimate.kv_cache import PagedKv, paged_kv
from gpu_insight.estimate.overheads import (
    MIB,
    VLLM_CUDA_CONTEXT_MIB,
    VLLM_V1_GRAPH_ESTIMATE_MIB_PER_LAYER,
    VLLM_V1_UNPROFILED_MIB,
    vllm_cuda_graphs_mib,
    vllm_non_torch_mib,
)
from gpu_insight.estimate.plans import common, startup_errors
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings
from gpu_insight.estimate.result import BreakdownLine
from gpu_insight.estimate.spec import ModelSpec

RUNNER_NAMES: dict[ModelRunner, str] = {"v1": "Model Runner V1", "v2": "Model Runner V2"}


@dataclass(frozen=True)
class EngineCore:
    """What one engine core takes besides its KV pool, in bytes per GPU."""

    runner: ModelRunner
    scheduler: SchedulerDefaults
    compiled: bool
    dtype_bytes: int
    rotary: int
    moe_workspace: int
    profile_forward: int
    profile_sampler: int
    profile_encoder: int  # one largest image through the vision encoder (multimodal models)
    warmup_tokens: int
    warmup_forward: int
    warmup_sampler: int
    non_torch: int
    graph_estimate: int  # V1's, taken from the budget
    graphs: int  # captured after the KV cache
    unprofiled: int
    context: int

    @property
    def profile_peak(self) -> int:
        """The profile run's torch peak increase, the MoE workspace it makes included."""
        peaks = (self.profile_forward, self.profile_sampler, self.profile_encoder)
        return self.moe_workspace + max(peaks)

    @property
    def warmup(self) -> int:
        """What the warm-up leaves in torch's cache (besides the MoE workspace)."""
        return max(self.warmup_forward, self.warmup_sampler)

    def budgeted(self, weights: float) -> float:
        """What vLLM takes from its requested memory before the KV cache."""
        return weights + self.rotary + self.profile_peak + self.non_torch + self.graph_estimate

    def held(self, weights: float) -> float:
        """What the process holds besides the KV pool."""
        return (
            weights
            + self.rotary
            + self.moe_workspace
            + self.warmup
            + self.non_torch
            + self.graphs
            + self.unprofiled
            + self.context
        )


def rotary_dims(spec: ModelSpec) -> int:
    return spec.qk_rope_head_dim if spec.is_mla else spec.head_dim


def rotary_cache_bytes(spec: ModelSpec, dtype_bytes: int) -> int:
    """The cos/sin cache a rotary embedding registers as a buffer (rotary_embedding/base.py):
    max positions × rotary dims in the model's dtype, loaded with the weights."""
    if not spec.has_kv_cache:
        return 0
    return spec.max_position_embeddings * rotary_dims(spec) * dtype_bytes


def engine_core(
    spec: ModelSpec,
    scheduler: SchedulerDefaults,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    compiled: bool = True,
    dtype_bytes: int = 2,
) -> EngineCore:
    runner = model_runner(spec.model_type)
    tokens, rows = scheduler.max_num_batched_tokens, scheduler.profiled_sequences
    # a pooling model runs its pooler instead of a sampler
    sampled = rows if spec.has_kv_cache else 0
    # V1 re-runs a forward of one token per sequence and its sampler after graph capture
    # (gpu_worker.py `compile_or_warm_up_model`); V2 prefills its warm-up requests of 2 tokens
    warmup_tokens = min(rows if runner == "v1" else rows * V2_WARMUP_PROMPT_TOKENS, tokens)
    layers = -(-spec.num_layers // pipeline_parallel)
    estimate = VLLM_V1_GRAPH_ESTIMATE_MIB_PER_LAYER * layers if runner == "v1" else 0
    return EngineCore(
        runner=runner,
        scheduler=scheduler,
        compiled=compiled,
        dtype_bytes=dtype_bytes,
        rotary=rotary_cache_bytes(spec, dtype_bytes),
        moe_workspace=vllm_moe_workspace_bytes(spec, tokens, tensor_parallel),
        profile_forward=vllm_forward_bytes(spec, tokens, tensor_parallel),
        profile_sampler=vllm_sampler_bytes(spec, sampled, VLLM_PROFILE_SAMPLER_BYTES[runner]),
        profile_encoder=vision_encoder_bytes(spec),
        warmup_tokens=warmup_tokens,
        warmup_forward=vllm_forward_bytes(spec, warmup_tokens, tensor_parallel),
        warmup_sampler=vllm_sampler_bytes(spec, sampled, VLLM_WARMUP_SAMPLER_BYTES[runner]),
        non_torch=vllm_non_torch_mib(tensor_parallel, runner, compiled) * MIB,
        graph_estimate=estimate * MIB if compiled else 0,
        graphs=vllm_cuda_graphs_mib(layers, runner) * MIB if compiled else 0,
        unprofiled=VLLM_V1_UNPROFILED_MIB * MIB if runner == "v1" else 0,
        context=VLLM_CUDA_CONTEXT_MIB * MIB,
    )


def budget_overhead_mib(spec: ModelSpec, scheduler: SchedulerDefaults) -> float:
    """What vLLM takes from its gpu_memory_utilization budget besides the weights and the KV
    cache, at TP 1 with CUDA graphs."""
    return engine_core(spec, scheduler).budgeted(0) / MIB


def core_lines(s: Settings, core: EngineCore) -> list[BreakdownLine]:
    """The breakdown of what the process holds besides its weights and KV pool."""
    spec, sched = s.spec, core.scheduler
    runner = RUNNER_NAMES[core.runner]
    rows = sched.profiled_sequences
    lines = [
        common.line(
            "rotary_cache",
            core.rotary,
            f"cos/sin cache: {spec.max_position_embeddings:,} positions × "
            f"{rotary_dims(spec)} rotary dims × "
            f"{core.dtype_bytes} B, loaded with the weights",
        )
    ]
    if core.moe_workspace:
        lines.append(
            common.line(
                "moe_workspace",
                core.moe_workspace,
                f"{sched.max_num_batched_tokens:,} tokens × {spec.experts_per_token} experts × "
                f"(3·{spec.moe_intermediate_size} + {spec.hidden_size}) × 2 B, kept after the "
                "profile run",
            )
        )
    lines += [
        common.line(
            "activations",
            core.warmup,
            f"{runner} warm-up left in torch's cache: max(forward of {core.warmup_tokens:,} "
            f"tokens {core.warmup_forward / MIB:,.0f} MiB, sampler {rows:,} × "
            f"{spec.vocab_size:,} logits × {VLLM_WARMUP_SAMPLER_BYTES[core.runner]} B "
            f"{core.warmup_sampler / MIB:,.0f} MiB); the profile run's peak, "
            f"{core.profile_peak / MIB:,.0f} MiB, was budgeted and then freed",
        ),
        common.line(
            "non_torch",
            core.non_torch,
            f"cuBLAS workspaces and kernels outside torch ({runner}"
            f"{', compiled' if core.compiled else ', eager'}, TP {s.tensor_parallel})",
        ),
    ]
    if core.graphs:
        budgeted = (
            f"; {core.graph_estimate / MIB:,.0f} MiB of it estimated inside the budget"
            if core.graph_estimate
            else ", outside the budget"
        )
        lines.append(
            common.line(
                "cuda_graphs",
                core.graphs,
                f"{runner} CUDA graphs captured after the KV cache{budgeted} "
                "(--enforce-eager drops them)",
            )
        )
    if core.unprofiled:
        lines.append(
            common.line(
                "unprofiled",
                core.unprofiled,
                f"{runner} memory its profile does not see (measured on an H200)",
            )
        )
    lines.append(
        common.line(
            "cuda_context",
            core.context,
            "CUDA context, made before vLLM's memory snapshot: outside gpu_memory_utilization",
        )
    )
    return lines


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    scheduler = scheduler_defaults(gpu.name if gpu else None, gpu.total_mib if gpu else None)
    core = engine_core(
        s.spec,
        scheduler,
        s.tensor_parallel,
        s.pipeline_parallel,
        compiled=not s.enforce_eager,
        dtype_bytes=4 if s.quantization == "fp32" else 2,
    )
    paged = paged_kv(common.kv_for(s), KV_BLOCK_SIZE, HYBRID_GROUP_SPREAD)
    chunk = scheduler.max_num_batched_tokens
    weights, w_line = common.weights_line(s)
    lines = [w_line, *core_lines(s, core)]
    budgeted, held = core.budgeted(weights), core.held(weights)
    outside = max(held - budgeted, core.context)  # beyond the request, besides the KV pool
    per_sequence = paged.blocks_per_sequence(s.context_length, chunk)
    sequence_bytes = per_sequence * paged.block_bytes + paged.state_bytes
    kv_need = sequence_bytes * s.concurrency
    need = (budgeted + outside + kv_need) / MIB
    if gpu is None:
        kv = common.line("kv_cache", kv_need, kv_formula(s, paged, per_sequence * s.concurrency))
        notes = [
            "vLLM reserves gpu_memory_utilization × total memory and fills what the model does "
            "not use with KV cache",
            note(core),
        ]
        return common.without_gpu(s, [*lines, kv], need, common.engine_flags(s), notes)
    util = s.gpu_memory_utilization or common.fraction_that_fits(
        need, gpu, DEFAULT_MEMORY_FRACTION, outside / MIB
    )
    requested = math.ceil(util * gpu.total_mib * MIB)
    available = requested - budgeted
    blocks = int(available // paged.block_bytes) if paged.block_bytes and available > 0 else 0
    pool = blocks * paged.block_bytes
    capacity = pool / sequence_bytes if sequence_bytes else None
    kv_tokens = int(capacity * s.context_length) if capacity is not None else 0
    taken = "weights, rotary cache, the profile peak, non-torch" + (
        ", the CUDA-graph estimate" if core.graph_estimate else ""
    )
    reported = f"; {kv_tokens:,} tokens at {capacity:.2f} × {s.context_length:,}" if blocks else ""
    lines.append(
        common.line(
            "kv_cache_pool",
            pool,
            f"ceil({util:.2f} × {gpu.total_mib:,.0f} MiB) − {budgeted / MIB:,.0f} MiB ({taken}) "
            f"→ {kv_formula(s, paged, blocks)}{reported}",
        )
    )
    process = held + pool

    def serves(tokens: int) -> bool:
        one = paged.blocks_per_sequence(tokens, chunk) * paged.block_bytes + paged.state_bytes
        return s.concurrency * one <= pool

    return Plan(
        lines=lines,
        need_mib=need,
        holds_mib=process / MIB,
        # vLLM checks what is free once its CUDA context exists against the requested share
        start_mib=(requested + core.context) / MIB,
        max_context_tokens=common.largest_fitting(serves, s.spec.max_position_embeddings)
        if sequence_bytes
        else s.spec.max_position_embeddings,
        max_concurrency=int(capacity) if capacity is not None else s.concurrency,
        kv_cache_tokens=kv_tokens,
        flags=common.engine_flags(s, memory_fraction=util),
        errors=start_errors(s, gpu, paged, chunk, util, requested, available, core.context),
    )


def kv_formula(s: Settings, paged: PagedKv, blocks: int) -> str:
    layout = common.kv_for(s)
    slots = f"{paged.group_layers} layer slots"
    groups = (
        f" shared by {paged.full_groups} global and {paged.sliding_groups} sliding-window layer "
        f"groups (window {paged.window:,})"
        if paged.sliding_groups and paged.window
        else ""
    )
    return (
        f"{blocks:,} blocks × {paged.block_tokens} tokens × {slots}{groups} × {layout.explanation}"
    )


def note(core: EngineCore) -> str:
    runner = RUNNER_NAMES[core.runner]
    if core.runner == "v2":
        return (
            f"vLLM 0.24 serves this architecture on {runner}: its CUDA graphs and the context "
            "come on top of gpu_memory_utilization × total"
        )
    return (
        f"vLLM 0.24 serves this architecture on {runner}: it budgets a CUDA-graph estimate "
        "inside gpu_memory_utilization × total; the context comes on top"
    )


def start_errors(
    s: Settings,
    gpu: GpuTarget,
    paged: PagedKv,
    chunk: int,
    util: float,
    requested: float,
    available: float,
    context: float,
) -> list[str]:
    errors: list[str] = []
    if gpu.free_mib is not None and (gpu.free_mib * MIB - context) < requested:
        errors.append(
            startup_errors.vllm_free_memory_below_share(
                gpu.free_mib - context / MIB, gpu.total_mib, util, requested / MIB
            )
        )
    if not paged.block_bytes:
        return errors  # a pooling model keeps no KV cache
    one = paged.blocks_per_sequence(s.context_length, chunk) * paged.block_bytes + paged.state_bytes
    if available <= 0:
        errors.append(startup_errors.vllm_no_cache_blocks())
    elif one > available:
        estimated = common.largest_fitting(
            lambda tokens: (
                paged.blocks_per_sequence(tokens, chunk) * paged.block_bytes + paged.state_bytes
                <= available
            ),
            s.context_length,
        )
        errors.append(
            startup_errors.vllm_sequence_exceeds_pool(s.context_length, one, available, estimated)
        )
    return errors
