"""Ollama's and llama.cpp's memory: GGUF weights + KV for context × parallel slots + the compute
graph, with the engine's own margin left free; past free memory, layers go to the CPU."""

from __future__ import annotations

from gpu_insight.engines.gguf import LLAMA_CPP_BATCH, LLAMA_CPP_FIT_MARGIN_MIB, OLLAMA_MINIMUM_MIB
from gpu_insight.estimate.overheads import MIB
from gpu_insight.estimate.plans import common
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    ollama = s.engine == "ollama"
    layout = common.kv_for(s, honour_sliding=False)
    weights, w_line = common.weights_line(s)
    ctx_total = s.context_length * s.concurrency
    kv, k_line = common.kv_line(layout, s.context_length, s.concurrency)
    h, heads = s.spec.hidden_size, s.spec.num_attention_heads
    graph = 4 * LLAMA_CPP_BATCH * (1 + 4 * h + ctx_total * (1 + heads))
    base = OLLAMA_MINIMUM_MIB if ollama else LLAMA_CPP_FIT_MARGIN_MIB
    lines = [
        w_line,
        k_line,
        common.line(
            "compute_graph",
            graph,
            f"4 × batch {LLAMA_CPP_BATCH} × (1 + 4·{h} + "
            f"{ctx_total:,} ctx × (1 + {heads} heads)) B (Ollama's graph formula)",
        ),
        common.line(
            "minimum_free" if ollama else "fit_margin",
            base * MIB,
            "Ollama MinimumMemory per CUDA GPU"
            if ollama
            else "llama.cpp --fit-target default margin per device",
        ),
    ]
    need = (weights + kv + graph) / MIB + base
    notes = []
    max_ctx = s.context_length
    if gpu is not None:
        room = gpu.free_mib if gpu.free_mib is not None else gpu.total_mib
        budget = (room - base) * MIB - weights
        max_ctx = common.largest_context(
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
    return Plan(
        lines=lines,
        need_mib=need,
        holds_mib=need,
        max_context_tokens=max_ctx,
        max_concurrency=None,
        flags=common.engine_flags(s),
        notes=notes,
    )
