"""transformers' memory: no reservation; weights + the DynamicCache + one prefill's activations +
the process context, all at the peak of one prefill."""

from __future__ import annotations

from dataclasses import replace

from gpu_insight.estimate.activations import (
    CUBLAS_WORKSPACE_BYTES,
    masked_attention_bytes,
    mlp_intermediate,
    prefill_bytes,
    sliding_mask_bytes,
    transformers_mlp_tensors,
)
from gpu_insight.estimate.kv_cache import KvLayout
from gpu_insight.estimate.overheads import MIB, TORCH_PROCESS_MIB
from gpu_insight.estimate.plans import common
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings
from gpu_insight.estimate.result import BreakdownLine


def _lines(s: Settings, layout: KvLayout, context: int) -> list[BreakdownLine]:
    """What transformers holds at the peak of one prefill of `context` tokens per sequence."""
    spec, batch = s.spec, s.concurrency
    _, w_line = common.weights_line(s)
    # transformers' sliding-window cache keeps window − 1 tokens.
    _, k_line = common.kv_line(layout, context, batch, slack=1)
    lines = [w_line, k_line]
    # DynamicSlidingWindowLayer.update keeps `full_key_states[:, :, -window + 1 :, :]`, a view:
    # the prefill's whole K/V stays allocated behind the window the cache reports.
    if layout.window is not None and context > layout.window - 1:
        held = layout.window - 1
        behind = layout.bytes_per_token_layer * layout.sliding_layers * (context - held) * batch
        lines.append(
            common.line(
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
        common.line(
            "activations",
            max(mlp, attention),
            f"{tokens:,} tokens × ({mlp_tensors}·{mlp_intermediate(spec)} + "
            f"4·{spec.hidden_size}) × 2 B (MLP peak, logits_to_keep=1)"
            if mlp >= attention
            else f"{batch} × {context:,}² × 2 B additive mask + {tokens:,} tokens × "
            f"(4·{heads_width} + 2·{spec.hidden_size}) × 2 B (sliding-layer SDPA peak)",
        )
    )
    lines.append(
        common.line("cublas_workspace", CUBLAS_WORKSPACE_BYTES, "cuBLAS workspace, 32 MiB")
    )
    mask = sliding_mask_bytes(spec, context)
    if mask:
        lines.append(
            common.line(
                "sliding_window_mask",
                mask,
                f"{context:,}² × 1 B boolean mask, built once and expanded over the batch",
            )
        )
    lines.append(
        common.line(
            "cuda_context",
            TORCH_PROCESS_MIB * MIB,
            f"CUDA context + library handles per process ({TORCH_PROCESS_MIB} MiB, H100)",
        )
    )
    return lines


def _need_mib(lines: list[BreakdownLine]) -> float:
    return sum(item.mib for item in lines)


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    layout = common.kv_for(s)
    lines = _lines(s, layout, s.context_length)
    need = _need_mib(lines)
    notes = ["transformers reserves nothing up front: memory grows with each batch"]
    if gpu is None:
        return common.without_gpu(s, lines, need, [], notes)
    room = min(gpu.total_mib, gpu.free_mib if gpu.free_mib is not None else gpu.total_mib)
    one_token = replace(s, concurrency=1)
    # every line grows with the context and the batch, so the need is monotone in both
    max_ctx = common.largest_fitting(
        lambda ctx: _need_mib(_lines(s, layout, ctx)) <= room, s.spec.max_position_embeddings
    )
    max_batch = common.largest_batch(
        lambda batch: (
            _need_mib(_lines(replace(s, concurrency=batch), layout, s.context_length)) <= room
        )
    )
    return Plan(
        lines=lines,
        need_mib=need,
        holds_mib=need,
        start_mib=_need_mib(_lines(one_token, layout, 1)),  # the weights load
        max_context_tokens=max_ctx,
        max_concurrency=max_batch,
        kv_cache_tokens=max_ctx * s.concurrency if s.spec.has_kv_cache else 0,
        flags=[],
        notes=notes,
    )
