"""Ollama's and llama.cpp's memory with every layer on the GPU, as llama.cpp allocates it
(`gpu_insight.engines.gguf`): the GGUF's tensors less the token embedding, which stays in host
memory; the KV cache for context × slots; the compute buffer of one batch; the server process's
own overhead. Past free memory Ollama runs the layers that do not fit on the CPU."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_insight.engines.gguf import (
    ATTENTION_SPANS_ONE_SLOT,
    LLAMA_CPP_BATCH,
    LLAMA_CPP_KV_PAD,
    OLLAMA_MINIMUM_MIB,
    PROCESS_OVERHEAD_MIB,
)
from gpu_insight.estimate.kv_cache import KvLayout
from gpu_insight.estimate.overheads import MIB
from gpu_insight.estimate.plans import common
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Settings
from gpu_insight.estimate.result import BreakdownLine
from gpu_insight.estimate.spec import ModelSpec
from gpu_insight.estimate.weights import gguf_embedding_bytes

F32_BYTES = 4


@dataclass(frozen=True)
class _Load:
    """One load of the model: weights on the GPU, and the per-slot KV and compute buffer that
    llama.cpp allocates for the slots up front."""

    s: Settings
    layout: KvLayout
    weights: float

    @property
    def overhead_mib(self) -> float:
        return PROCESS_OVERHEAD_MIB[self.s.flash_attention]

    def cells(self, context: int) -> int:
        """KV cells per slot: llama.cpp rounds each slot's up to its padding."""
        if self.s.engine == "llama.cpp":
            return -(-context // LLAMA_CPP_KV_PAD) * LLAMA_CPP_KV_PAD
        return context

    def attention_tokens(self, context: int, slots: int) -> int:
        """The KV cells one batch attends over: one slot's stream, or Ollama's shared cache."""
        one = self.cells(context)
        return one if self.s.engine in ATTENTION_SPANS_ONE_SLOT else one * slots

    def ffn_bytes(self, context: int, slots: int) -> float:
        """The feed-forward step, the graph's peak with flash attention: gate, up and their
        product (3 × its width) beside three hidden-wide tensors, in f32, and the attention
        mask over the cells (f16 for the flash kernel, else f32)."""
        spec = self.s.spec
        mask_bytes = 2 if self.s.flash_attention else F32_BYTES
        activations = F32_BYTES * 3 * (ffn_width(spec) + spec.hidden_size)
        return LLAMA_CPP_BATCH * (activations + mask_bytes * self.attention_tokens(context, slots))

    def scores_bytes(self, context: int, slots: int) -> float:
        """Without flash attention: each head's scores over the cells and the f32 mask, beside
        four hidden-wide tensors and the new keys and values, in f32."""
        spec = self.s.spec
        tokens = self.attention_tokens(context, slots)
        kv_width = spec.num_kv_heads * spec.head_dim
        per_token = tokens * (spec.num_attention_heads + 1) + 4 * spec.hidden_size + 2 * kv_width
        return F32_BYTES * LLAMA_CPP_BATCH * per_token

    def compute_bytes(self, context: int, slots: int) -> float:
        if self.s.flash_attention:
            return self.ffn_bytes(context, slots)
        return max(self.ffn_bytes(context, slots), self.scores_bytes(context, slots))

    def kv_bytes(self, context: int, slots: int) -> float:
        return self.layout.sequence_bytes(self.cells(context)) * slots

    def need_mib(self, context: int, slots: int) -> float:
        held = self.weights + self.kv_bytes(context, slots) + self.compute_bytes(context, slots)
        return held / MIB + self.overhead_mib


def _weights_line(s: Settings) -> tuple[float, float, BreakdownLine]:
    """(bytes on the GPU, the embedding's bytes in host memory, the line)."""
    embedding, embedding_type = gguf_embedding_bytes(s.spec, s.quantization, s.weight_bytes)
    if s.spec.tie_word_embeddings:
        formula = (
            f"{s.weight_text}; the token embedding ({embedding_type}, {embedding:,} B) is the "
            "output matrix too: on the GPU, and in host memory as the input layer"
        )
        return float(s.weight_bytes), embedding, common.line("weights", s.weight_bytes, formula)
    on_gpu = s.weight_bytes - embedding
    formula = (
        f"{s.weight_text}, less the token embedding ({embedding_type}, {embedding:,} B) that "
        "stays in host memory"
    )
    return float(on_gpu), embedding, common.line("weights", on_gpu, formula)


def ffn_width(spec: ModelSpec) -> int:
    """Values per token out of a feed-forward layer's gate (or up): its widest layer's, dense
    or the routed experts a token takes with the shared one."""
    experts = spec.experts_per_token * spec.moe_intermediate_size
    routed = experts + spec.shared_expert_intermediate_size if spec.is_moe else 0
    dense = spec.intermediate_size if not spec.is_moe or spec.dense_layers else 0
    return max(dense, routed)


def _compute_line(load: _Load, context: int, slots: int) -> BreakdownLine:
    spec = load.s.spec
    cells = load.attention_tokens(context, slots)
    batch = f"batch {LLAMA_CPP_BATCH}"
    mask = "2 B" if load.s.flash_attention else "4 B"
    ffn = (
        f"{batch} × (4 B × 3 × ({ffn_width(spec):,} ffn + {spec.hidden_size:,} hidden) + "
        f"{mask} mask × {cells:,} cells): the feed-forward step"
    )
    if load.s.flash_attention:
        formula = f"{ffn} (flash attention)"
    else:
        kv_width = spec.num_kv_heads * spec.head_dim
        formula = (
            f"the larger of {ffn} and 4 B × {batch} × ({cells:,} cells × "
            f"({spec.num_attention_heads} heads + mask) + 4·{spec.hidden_size:,} + "
            f"2·{kv_width:,}): the attention scores without flash attention"
        )
    return common.line("compute_buffer", load.compute_bytes(context, slots), formula)


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    ollama = s.engine == "ollama"
    layout = common.kv_for(s, honour_sliding=False)
    weights, host_embedding, w_line = _weights_line(s)
    load = _Load(s, layout, weights)
    cells = load.cells(s.context_length)
    _, k_line = common.kv_line(layout, cells, s.concurrency)
    attention = "on" if s.flash_attention else "off"
    lines = [
        w_line,
        k_line,
        _compute_line(load, s.context_length, s.concurrency),
        common.line(
            "process_overhead",
            load.overhead_mib * MIB,
            f"CUDA context, cuBLAS and memory pool of the server (flash attention {attention})",
        ),
    ]
    need = load.need_mib(s.context_length, s.concurrency)
    flags = common.engine_flags(s)
    notes = [
        f"host memory: the token embedding ({host_embedding / MIB:,.0f} MiB) stays there, "
        "with the batch's CPU compute buffer"
    ]
    if gpu is None:
        return common.without_gpu(s, lines, need, flags, notes)
    room = gpu.free_mib if gpu.free_mib is not None else gpu.total_mib
    usable = room - OLLAMA_MINIMUM_MIB if ollama else room
    if ollama and need > usable:
        per_layer = (weights + load.kv_bytes(s.context_length, s.concurrency)) / s.spec.num_layers
        rest = (usable - load.overhead_mib) * MIB - load.compute_bytes(
            s.context_length, s.concurrency
        )
        fit_layers = max(0, int(rest // per_layer))
        notes.append(
            f"partial offload: about {min(fit_layers, s.spec.num_layers)} of "
            f"{s.spec.num_layers} layers fit on this GPU; the rest run on the CPU "
            "(much slower; `ollama ps` shows a CPU/GPU split)"
        )
    return Plan(
        lines=lines,
        need_mib=need,
        # past free memory Ollama keeps the layers that do not fit on the CPU
        holds_mib=min(need, usable) if ollama else need,
        # Ollama starts with what fits (its minimum kept free); llama.cpp allocates it all
        start_mib=OLLAMA_MINIMUM_MIB if ollama else need,
        max_context_tokens=common.largest_fitting(
            lambda ctx: load.need_mib(ctx, s.concurrency) <= usable,
            s.spec.max_position_embeddings,
        ),
        max_concurrency=common.largest_batch(
            lambda slots: load.need_mib(s.context_length, slots) <= usable
        ),
        kv_cache_tokens=cells * s.concurrency if s.spec.has_kv_cache else 0,
        flags=flags,
        notes=notes,
    )
