"""Ollama's and llama.cpp's memory: GGUF weights + KV for context × parallel slots + the compute
graph, with the engine's own margin left free; past free memory, layers go to the CPU."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_insight.engines.gguf import LLAMA_CPP_BATCH, LLAMA_CPP_FIT_MARGIN_MIB, OLLAMA_MINIMUM_MIB
from gpu_insight.estimate.kv_cache import KvLayout
from gpu_insight.estimate.overheads import MIB
from gpu_insight.estimate.plans import common
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings


@dataclass(frozen=True)
class _Load:
    """What one load of the model takes: its KV cache is allocated for every slot up front."""

    s: Settings
    layout: KvLayout
    weights: float
    base_mib: float

    def graph_bytes(self, context: int, slots: int) -> float:
        h, heads = self.s.spec.hidden_size, self.s.spec.num_attention_heads
        return 4 * LLAMA_CPP_BATCH * (1 + 4 * h + context * slots * (1 + heads))

    def need_mib(self, context: int, slots: int) -> float:
        kv = self.layout.sequence_bytes(context) * slots
        return (self.weights + kv + self.graph_bytes(context, slots)) / MIB + self.base_mib


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    ollama = s.engine == "ollama"
    layout = common.kv_for(s, honour_sliding=False)
    weights, w_line = common.weights_line(s)
    load = _Load(s, layout, weights, OLLAMA_MINIMUM_MIB if ollama else LLAMA_CPP_FIT_MARGIN_MIB)
    ctx_total = s.context_length * s.concurrency
    kv, k_line = common.kv_line(layout, s.context_length, s.concurrency)
    h, heads = s.spec.hidden_size, s.spec.num_attention_heads
    graph = load.graph_bytes(s.context_length, s.concurrency)
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
            load.base_mib * MIB,
            "Ollama MinimumMemory per CUDA GPU"
            if ollama
            else "llama.cpp --fit-target default margin per device",
        ),
    ]
    need = load.need_mib(s.context_length, s.concurrency)
    flags = common.engine_flags(s)
    if gpu is None:
        return common.without_gpu(s, lines, need, flags)
    room = gpu.free_mib if gpu.free_mib is not None else gpu.total_mib
    notes = []
    if need > room:
        per_layer = (weights + kv) / s.spec.num_layers
        fit_layers = max(0, int(((room - load.base_mib) * MIB - graph) // per_layer))
        notes.append(
            f"partial offload: about {min(fit_layers, s.spec.num_layers)} of "
            f"{s.spec.num_layers} layers fit on this GPU; the rest run on the CPU "
            "(much slower; `ollama ps` shows a CPU/GPU split)"
        )
    max_ctx = common.largest_fitting(
        lambda ctx: load.need_mib(ctx, s.concurrency) <= room, s.spec.max_position_embeddings
    )
    return Plan(
        lines=lines,
        need_mib=need,
        # past free memory Ollama keeps the layers that do not fit on the CPU
        holds_mib=min(need, room - load.base_mib) if ollama else need,
        # Ollama starts with what fits and runs the rest of the layers on the CPU
        start_mib=load.base_mib if ollama else need,
        max_context_tokens=max_ctx,
        max_concurrency=common.largest_batch(
            lambda slots: load.need_mib(s.context_length, slots) <= room
        ),
        kv_cache_tokens=ctx_total if s.spec.has_kv_cache else 0,
        flags=flags,
        notes=notes,
    )
