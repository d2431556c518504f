"""Each serving engine's memory rules, for one GPU of a placement.

`plan()` returns the per-GPU breakdown, what the engine needs for the requested context ×
concurrency, what it will *hold* (vLLM and SGLang reserve a fraction of total memory up front,
TGI fills all but 10 % of total with KV blocks), the largest context that fits, the engine flags,
and the startup failures it predicts, quoting the engine's own error text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpu_insight.estimate.activations import (
    CUBLAS_WORKSPACE_BYTES,
    masked_attention_bytes,
    mlp_intermediate,
    prefill_bytes,
    sliding_mask_bytes,
    transformers_mlp_tensors,
    vllm_profile_bytes,
)
from gpu_insight.estimate.kv_cache import KvLayout, kv_layout
from gpu_insight.estimate.overheads import (
    GIB,
    LLAMA_CPP_FIT_MARGIN_MIB,
    MIB,
    OLLAMA_MINIMUM_MIB,
    SAFETY_MARGIN_MIB,
    TORCH_PROCESS_MIB,
    VLLM_CUDA_GRAPHS_MIB,
    vllm_non_torch_mib,
)
from gpu_insight.estimate.result import BreakdownLine
from gpu_insight.estimate.spec import ModelSpec

VLLM_DEFAULT_UTIL = 0.9
SGLANG_DEFAULT_MEM_FRACTION = 0.85  # SGLang sizes it per GPU; 0.85 is typical for 40–80 GB
TGI_WIGGLE_ROOM = 0.9
TGI_MAX_BATCH_PREFILL_TOKENS = 4096
SGLANG_CHUNKED_PREFILL = 8192
LLAMA_CPP_BATCH = 512


@dataclass(frozen=True)
class Settings:
    """A resolved request: the spec plus every engine knob as a number."""

    spec: ModelSpec
    engine: str
    weight_bytes: int
    weight_text: str
    kv_element_bytes: float
    kv_dtype: str
    quantization: str
    context_length: int
    concurrency: int
    tensor_parallel: int
    pipeline_parallel: int
    gpu_memory_utilization: float | None
    enforce_eager: bool

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel


@dataclass(frozen=True)
class GpuTarget:
    """One GPU type of a placement; `free_mib` None when it is not live."""

    name: str
    total_mib: float
    free_mib: float | None = None


@dataclass
class Plan:
    lines: list[BreakdownLine]
    need_mib: float
    holds_mib: float
    max_context_tokens: int
    max_concurrency: float | None
    flags: list[str]
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _line(name: str, num_bytes: float, formula: str) -> BreakdownLine:
    return BreakdownLine(name=name, mib=round(num_bytes / MIB, 1), formula=formula)


def kv_for(settings: Settings, honour_sliding: bool = True) -> KvLayout:
    return kv_layout(
        settings.spec,
        settings.kv_element_bytes,
        settings.tensor_parallel,
        settings.pipeline_parallel,
        honour_sliding,
    )


def largest_context(
    layout: KvLayout, budget_bytes: float, sequences: int, cap: int, slack: int = 0
) -> int:
    """Largest tokens-per-sequence whose KV for `sequences` fits `budget_bytes` (≤ cap)."""
    if layout.bytes_per_token_layer == 0:
        return cap
    lo, hi = 0, cap
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if layout.sequence_bytes(mid, slack) * sequences <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _pool_capacity(s: Settings, layout: KvLayout, pool_bytes: float) -> tuple[int, float | None]:
    """What a KV pool of `pool_bytes` holds: the largest context at the requested concurrency,
    and how many sequences of the requested context fit (None when the pool is empty)."""
    cap = s.spec.max_position_embeddings
    max_context = largest_context(layout, max(pool_bytes, 0), s.concurrency, cap)
    one = layout.sequence_bytes(s.context_length)
    return max_context, (pool_bytes / one if one and pool_bytes > 0 else None)


def _weights_line(s: Settings) -> tuple[float, BreakdownLine]:
    per_gpu = s.weight_bytes / s.gpus
    split = f" ÷ {s.gpus} GPUs" if s.gpus > 1 else ""
    return per_gpu, _line("weights", per_gpu, f"{s.weight_text}{split}")


def _kv_line(
    s: Settings,
    layout: KvLayout,
    tokens: int,
    sequences: int,
    slack: int = 0,
    label: str = "kv_cache",
) -> tuple[float, BreakdownLine]:
    kv = layout.sequence_bytes(tokens, slack) * sequences
    window = (
        f"; {layout.sliding_layers} sliding layers hold ≤ {layout.window - slack} tokens"
        if layout.window
        else ""
    )
    layers = layout.full_layers + layout.sliding_layers
    return kv, _line(
        label,
        kv,
        f"{sequences} × {tokens:,} tokens × {layers} layers × {layout.explanation}{window}",
    )


def _transformers_lines(s: Settings, layout: KvLayout, context: int) -> list[BreakdownLine]:
    """What transformers holds at the peak of one prefill of `context` tokens per sequence."""
    spec, batch = s.spec, s.concurrency
    _, w_line = _weights_line(s)
    # transformers' sliding-window cache keeps window − 1 tokens.
    _, k_line = _kv_line(s, layout, context, batch, slack=1)
    lines = [w_line, k_line]
    # DynamicSlidingWindowLayer.update keeps `full_key_states[:, :, -window + 1 :, :]`, a view:
    # the prefill's whole K/V stays allocated behind the window the cache reports.
    if layout.window is not None and context > layout.window - 1:
        held = layout.window - 1
        behind = layout.bytes_per_token_layer * layout.sliding_layers * (context - held) * batch
        lines.append(
            _line(
                "sliding_kv_storage",
                behind,
                f"{batch} × ({context:,} − {held:,}) tokens × {layout.sliding_layers} sliding "
                f"layers × {layout.bytes_per_token_layer:g} B (the cached window is a view into "
                "the prefill's K/V, which stays allocated)",
            )
        )
    tokens = context * batch
    mlp_tensors = transformers_mlp_tensors(spec)
    mlp = prefill_bytes(spec, tokens, mlp_tensors=mlp_tensors)
    attention = masked_attention_bytes(spec, batch, context)
    heads_width = spec.num_attention_heads * spec.head_dim
    lines.append(
        _line(
            "activations",
            max(mlp, attention),
            f"{tokens:,} tokens × ({mlp_tensors}·{mlp_intermediate(spec)} + "
            f"4·{spec.hidden_size}) × 2 B (MLP peak, logits_to_keep=1)"
            if mlp >= attention
            else f"{batch} × {context:,}² × 2 B additive mask + {tokens:,} tokens × "
            f"(4·{heads_width} + 2·{spec.hidden_size}) × 2 B (sliding-layer SDPA peak)",
        )
    )
    lines.append(_line("cublas_workspace", CUBLAS_WORKSPACE_BYTES, "cuBLAS workspace, 32 MiB"))
    mask = sliding_mask_bytes(spec, context)
    if mask:
        lines.append(
            _line(
                "sliding_window_mask",
                mask,
                f"{context:,}² × 1 B boolean mask, built once and expanded over the batch",
            )
        )
    lines.append(
        _line(
            "cuda_context",
            TORCH_PROCESS_MIB * MIB,
            f"CUDA context + library handles per process ({TORCH_PROCESS_MIB} MiB, H100)",
        )
    )
    return lines


def plan_transformers(s: Settings, gpu: GpuTarget | None) -> Plan:
    """No reservation: weights + KV (DynamicCache) + prefill activations + process context."""
    layout = kv_for(s)
    lines = _transformers_lines(s, layout, s.context_length)
    need = sum(line.mib for line in lines)
    max_ctx = s.spec.max_position_embeddings
    if gpu is not None:
        room = min(gpu.total_mib, gpu.free_mib if gpu.free_mib is not None else gpu.total_mib)
        lo, hi = 0, max_ctx
        while lo < hi:  # every line grows with the context, so the need is monotone
            mid = (lo + hi + 1) // 2
            if sum(line.mib for line in _transformers_lines(s, layout, mid)) <= room:
                lo = mid
            else:
                hi = mid - 1
        max_ctx = lo
    return Plan(
        lines,
        need,
        need,
        max_ctx,
        None,
        [],
        notes=["transformers reserves nothing up front: memory grows with each batch"],
    )


def plan_vllm(s: Settings, gpu: GpuTarget | None) -> Plan:
    layout = kv_for(s)
    weights, w_line = _weights_line(s)
    large_gpu = gpu is None or (gpu.total_mib >= 70 * 1024 and "A100" not in gpu.name)
    mnbt, seqs = (8192, 1024) if large_gpu else (2048, 256)
    act, act_text = vllm_profile_bytes(s.spec, mnbt, seqs, s.tensor_parallel)
    non_torch = vllm_non_torch_mib(s.tensor_parallel) * MIB
    graphs = 0 if s.enforce_eager else VLLM_CUDA_GRAPHS_MIB["large" if large_gpu else "small"] * MIB
    lines = [
        w_line,
        _line("activation_peak", act, act_text),
        _line(
            "non_torch",
            non_torch,
            f"NCCL/cuBLAS/attention buffers outside torch (TP {s.tensor_parallel})",
        ),
    ]
    if graphs:
        lines.append(
            _line(
                "cuda_graphs",
                graphs,
                "CUDA graph pool (logs: 0.07–2.35 GiB; --enforce-eager drops it)",
            )
        )
    fixed = weights + act + non_torch + graphs
    kv_need, k_line = _kv_line(s, layout, s.context_length, s.concurrency)
    need = (fixed + kv_need) / MIB
    errors: list[str] = []
    flags = [f"--max-model-len {s.context_length}"]
    if gpu is None:
        lines.append(k_line)
        return Plan(
            lines,
            need,
            need,
            s.context_length,
            float(s.concurrency),
            flags + _parallel_flags(s) + _quant_flags(s),
            notes=[
                "vLLM reserves gpu_memory_utilization × total memory and fills what the "
                "model does not use with KV cache"
            ],
        )
    util = s.gpu_memory_utilization or _auto_util(need, gpu, VLLM_DEFAULT_UTIL)
    holds = util * gpu.total_mib
    budget = holds * MIB - fixed
    lines.append(
        _line(
            "kv_cache_pool",
            max(budget, 0),
            f"{util:.2f} × {gpu.total_mib:,.0f} MiB "
            "total − the lines above (vLLM fills its reservation with KV blocks)",
        )
    )
    if gpu.free_mib is not None and gpu.free_mib < holds:
        errors.append(
            f"ValueError: Free memory on device ({gpu.free_mib / 1024:.2f}/"
            f"{gpu.total_mib / 1024:.2f} GiB) on startup is less than desired GPU memory "
            f"utilization ({util:.2f}, {holds / 1024:.2f} GiB). Decrease GPU memory utilization "
            "or reduce GPU memory used by other processes."
        )
    one = layout.sequence_bytes(s.context_length)
    estimated = largest_context(layout, budget, 1, s.spec.max_position_embeddings)
    if budget <= 0:
        errors.append(
            "ValueError: No available memory for the cache blocks. Try increasing "
            "`gpu_memory_utilization` when initializing the engine."
        )
    elif one > budget:
        errors.append(
            f"ValueError: To serve at least one request with the model's max seq len "
            f"({s.context_length}), ({one / GIB:.2f} GiB KV cache is needed, which is larger "
            f"than the available KV cache memory ({budget / GIB:.2f} GiB). Based on the "
            f"available memory, the estimated maximum model length is {estimated}. Try "
            "increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
            "initializing the engine."
        )
    max_ctx, concurrency = _pool_capacity(s, layout, budget)
    flags = [f"--gpu-memory-utilization {util:.2f}", *flags, *_parallel_flags(s), *_quant_flags(s)]
    return Plan(lines, need, holds, max_ctx, concurrency, flags, errors)


def plan_sglang(s: Settings, gpu: GpuTarget | None) -> Plan:
    """Static pool = mem_fraction_static × total (weights + KV); activations and graphs outside."""
    layout = kv_for(s)
    weights, w_line = _weights_line(s)
    act = prefill_bytes(s.spec, SGLANG_CHUNKED_PREFILL, 2, s.tensor_parallel)
    graphs = 0 if s.enforce_eager else VLLM_CUDA_GRAPHS_MIB["large"] * MIB
    outside = act + graphs + TORCH_PROCESS_MIB * MIB
    kv_need, k_line = _kv_line(s, layout, s.context_length, s.concurrency)
    lines = [
        w_line,
        _line(
            "activations",
            act,
            f"chunked prefill {SGLANG_CHUNKED_PREFILL} tokens × (3·I/TP + 4·h) × 2 B",
        ),
        _line("cuda_graphs", graphs, "CUDA graph pool (estimate)"),
        _line("cuda_context", TORCH_PROCESS_MIB * MIB, "CUDA context per process"),
    ]
    need = (weights + kv_need + outside) / MIB
    flags = [
        f"--context-length {s.context_length}",
        f"--tp {s.tensor_parallel}" if s.tensor_parallel > 1 else "",
        *_quant_flags(s, kv_fp8="fp8_e4m3", nf4=None),
    ]
    flags = [f for f in flags if f]
    if gpu is None:
        return Plan([*lines, k_line], need, need, s.context_length, float(s.concurrency), flags)
    fraction = s.gpu_memory_utilization or min(
        SGLANG_DEFAULT_MEM_FRACTION,
        _auto_util(need, gpu, SGLANG_DEFAULT_MEM_FRACTION, outside / MIB),
    )
    pool = fraction * gpu.total_mib * MIB - weights
    holds = fraction * gpu.total_mib + outside / MIB
    lines.append(
        _line(
            "kv_cache_pool",
            max(pool, 0),
            f"{fraction:.2f} × {gpu.total_mib:,.0f} MiB total − weights (mem_fraction_static)",
        )
    )
    errors = []
    if pool <= layout.sequence_bytes(s.context_length):
        errors.append(
            "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."
        )
    if gpu.free_mib is not None and gpu.free_mib < holds:
        errors.append(f"needs {holds:,.0f} MiB per GPU but {gpu.free_mib:,.0f} MiB are free")
    return Plan(
        lines,
        need,
        holds,
        *_pool_capacity(s, layout, pool),
        [f"--mem-fraction-static {fraction:.2f}", *flags],
        errors,
    )


def plan_tgi(s: Settings, gpu: GpuTarget | None) -> Plan:
    """Warmup prefill, then KV blocks fill free memory down to 10 % of total."""
    layout = kv_for(s, honour_sliding=False)
    weights, w_line = _weights_line(s)
    act = prefill_bytes(s.spec, TGI_MAX_BATCH_PREFILL_TOKENS, 2, s.tensor_parallel)
    kv_need, k_line = _kv_line(s, layout, s.context_length, s.concurrency)
    lines = [
        w_line,
        _line(
            "activations",
            act,
            f"--max-batch-prefill-tokens "
            f"{TGI_MAX_BATCH_PREFILL_TOKENS} warmup × (3·I/TP + 4·h) × 2 B",
        ),
        _line("cuda_context", TORCH_PROCESS_MIB * MIB, "CUDA context per process"),
    ]
    fixed = weights + act + TORCH_PROCESS_MIB * MIB
    need = (fixed + kv_need) / MIB
    flags = [
        f"--max-input-tokens {max(1, s.context_length - 1)}",
        f"--max-total-tokens {s.context_length}",
        f"--num-shard {s.tensor_parallel}" if s.tensor_parallel > 1 else "",
    ]
    flags = [f for f in flags if f]
    if gpu is None:
        return Plan([*lines, k_line], need, need, s.context_length, float(s.concurrency), flags)
    free = gpu.free_mib if gpu.free_mib is not None else gpu.total_mib
    holds = max(need, free - (1 - TGI_WIGGLE_ROOM) * gpu.total_mib)
    pool = holds * MIB - fixed
    lines.append(
        _line(
            "kv_cache_pool",
            max(pool, 0),
            f"free {free:,.0f} MiB − 10 % of total "
            f"{gpu.total_mib:,.0f} MiB − the lines above (TGI_WIGGLE_ROOM 0.90)",
        )
    )
    errors = []
    if pool < layout.sequence_bytes(s.context_length):
        errors.append(
            f"Not enough memory to handle {TGI_MAX_BATCH_PREFILL_TOKENS} prefill "
            "tokens. You need to decrease `--max-batch-prefill-tokens`"
        )
    return Plan(
        lines,
        need,
        holds,
        *_pool_capacity(s, layout, pool),
        flags,
        errors,
    )


def plan_gguf(s: Settings, gpu: GpuTarget | None) -> Plan:
    """Ollama / llama.cpp: GGUF weights + f16 KV for num_ctx × num_parallel + compute graph."""
    ollama = s.engine == "ollama"
    layout = kv_for(s, honour_sliding=False)
    weights, w_line = _weights_line(s)
    ctx_total = s.context_length * s.concurrency
    kv, k_line = _kv_line(s, layout, s.context_length, s.concurrency)
    h, heads = s.spec.hidden_size, s.spec.num_attention_heads
    graph = 4 * LLAMA_CPP_BATCH * (1 + 4 * h + ctx_total * (1 + heads))
    base = OLLAMA_MINIMUM_MIB if ollama else LLAMA_CPP_FIT_MARGIN_MIB
    lines = [
        w_line,
        k_line,
        _line(
            "compute_graph",
            graph,
            f"4 × batch {LLAMA_CPP_BATCH} × (1 + 4·{h} + "
            f"{ctx_total:,} ctx × (1 + {heads} heads)) B (Ollama's graph formula)",
        ),
        _line(
            "minimum_free" if ollama else "fit_margin",
            base * MIB,
            "Ollama MinimumMemory per CUDA GPU"
            if ollama
            else "llama.cpp --fit-target default margin per device",
        ),
    ]
    need = (weights + kv + graph) / MIB + base
    if ollama:
        flags = [
            f"OLLAMA_CONTEXT_LENGTH={s.context_length}",
            f"OLLAMA_NUM_PARALLEL={s.concurrency}",
        ]
        if s.kv_dtype in {"q8_0", "q4_0"}:
            flags += ["OLLAMA_FLASH_ATTENTION=1", f"OLLAMA_KV_CACHE_TYPE={s.kv_dtype}"]
    else:
        flags = [f"--ctx-size {ctx_total}", f"--parallel {s.concurrency}", "--n-gpu-layers 999"]
        if s.kv_dtype in {"q8_0", "q4_0"}:
            flags += [
                "--flash-attn on",
                f"--cache-type-k {s.kv_dtype}",
                f"--cache-type-v {s.kv_dtype}",
            ]
    notes = []
    max_ctx = s.context_length
    if gpu is not None:
        room = gpu.free_mib if gpu.free_mib is not None else gpu.total_mib
        budget = (room - base) * MIB - weights
        max_ctx = largest_context(
            layout, max(budget, 0) * 0.9, s.concurrency, s.spec.max_position_embeddings
        )
        if need > room:
            per_layer = (weights + kv) / s.spec.num_layers
            fit_layers = max(0, int(((room - base) * MIB - graph) // per_layer))
            notes.append(
                f"partial offload: about {min(fit_layers, s.spec.num_layers)} of "
                f"{s.spec.num_layers} layers fit on this GPU; the rest run on the CPU "
                "(much slower; `ollama ps` shows a CPU/GPU split)"
            )
    return Plan(lines, need, need, max_ctx, None, flags, notes=notes)


def _auto_util(need_mib: float, gpu: GpuTarget, default: float, outside_mib: float = 0) -> float:
    """The engine default when it fits in what is free now, else what is free minus a margin."""
    if gpu.free_mib is None:
        return default
    fits_free = (gpu.free_mib - SAFETY_MARGIN_MIB - outside_mib) / gpu.total_mib
    chosen = min(default, int(fits_free * 100) / 100)
    return max(chosen, 0.01) if chosen > 0 else max(round(need_mib / gpu.total_mib, 2), 0.01)


def _parallel_flags(s: Settings) -> list[str]:
    flags = []
    if s.tensor_parallel > 1:
        flags.append(f"--tensor-parallel-size {s.tensor_parallel}")
    if s.pipeline_parallel > 1:
        flags.append(f"--pipeline-parallel-size {s.pipeline_parallel}")
    return flags


def _quant_flags(s: Settings, kv_fp8: str = "fp8", nf4: str | None = "bitsandbytes") -> list[str]:
    """Quantization flags; the engines differ in the FP8 KV name and in bitsandbytes support."""
    flags = []
    if (
        s.quantization in {"fp8", "awq", "gptq"}
        and s.quantization != s.spec.checkpoint_quantization
    ):
        flags.append(f"--quantization {s.quantization}")
    if s.quantization == "nf4" and nf4:
        flags.append(f"--quantization {nf4}")
    if s.kv_dtype == "fp8":
        flags.append(f"--kv-cache-dtype {kv_fp8}")
    return flags


PLANNERS: dict[str, Callable[[Settings, GpuTarget | None], Plan]] = {
    "transformers": plan_transformers,
    "vllm": plan_vllm,
    "sglang": plan_sglang,
    "tgi": plan_tgi,
    "ollama": plan_gguf,
    "llama.cpp": plan_gguf,
}


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    return PLANNERS[s.engine](s, gpu)
