"""VRAM estimator: how much GPU memory a model takes on a serving engine, and where it fits.

Public API (pure functions, no I/O):

- `VramRequest` (pydantic): `model` (catalog name, HF id or alias) or `model_config_json`
  (a config.json dict or JSON text; wins), `engine` (one of `gpu_insight.engines.ENGINES`),
  `quantization` ("none" = the checkpoint's own format; bf16, fp16, fp32, fp8,
  int8, awq, gptq, nf4, GGUF q8_0 … iq4_xs), `context_length`, `concurrency`,
  `tensor_parallel` ("auto" or N), `pipeline_parallel`, `kv_cache_dtype` (auto, bf16, fp16,
  fp32, fp8, q8_0, q4_0), `gpu_memory_utilization`, `enforce_eager`, `gpu_type` (plan on
  empty boards of that type). Bad values raise pydantic's ValidationError;
  `request_error_text(err)` makes it one line.
- `estimate(request, model=None) -> VramEstimate`: without live data, planned on empty boards
  of `gpu_type`, or else the requirement (TP "auto" = 1), the breakdown, and which common
  GPUs would take it.
- `check_fit(request, gpus, model=None) -> VramEstimate`: against live `schemas.Gpu`
  readings (several hosts allowed): per-GPU verdicts, the placement, whether the engine
  `starts` and whether the requested context × concurrency `fits` (the KV cache tokens, the
  largest context and concurrency there), the exact engine flags, and when it does not fit,
  the `alternatives` that would, ranked.
- `model` is a `ResolvedModel` (spec, source, exact checkpoint bytes) resolved elsewhere, e.g.
  from the Hub; without it a pasted config or the catalog resolves the request's model.
- Both raise `errors.InputError` (naming the parameter) for requests that cannot be
  answered: unknown model (with the three closest names), context above the model maximum,
  TP that does not divide the heads, malformed config, a format, KV type or parallelism the
  engine does not have.
- Building blocks for other rules: `catalog.lookup`, `spec.from_hf_config`,
  `weights.parameter_count` / `weight_bytes`, `kv_cache.kv_layout`, `plans.plan`,
  `parallel.valid_tp_sizes` / `capability_problem`.
"""

from __future__ import annotations

from gpu_insight.estimate.alternatives import what_would_fit
from gpu_insight.estimate.placement import (
    MAX_COMMON_GPUS,
    CommonGpu,
    board_named,
    common_gpu_fits,
    empty_boards,
    verdicts,
)
from gpu_insight.estimate.plans import kv_for, plan
from gpu_insight.estimate.request import VramRequest, request_error_text
from gpu_insight.estimate.resolve import ResolvedModel, resolve_local
from gpu_insight.estimate.result import VramEstimate
from gpu_insight.estimate.sizing import Sizing
from gpu_insight.estimate.weights import parameter_count
from gpu_insight.schemas import Gpu

__all__ = [
    "ResolvedModel",
    "VramEstimate",
    "VramRequest",
    "check_fit",
    "estimate",
    "request_error_text",
]


def estimate(request: VramRequest, model: ResolvedModel | None = None) -> VramEstimate:
    """Without live GPUs: planned on empty boards of `request.gpu_type` when it names one,
    else the requirement and the common boards that would take it."""
    board = board_named(request.gpu_type) if request.gpu_type else None
    return _answer(Sizing(request, model or resolve_local(request)), None, board)


def check_fit(
    request: VramRequest, gpus: list[Gpu], model: ResolvedModel | None = None
) -> VramEstimate:
    return _answer(Sizing(request, model or resolve_local(request)), gpus, None)


def _answer(sizing: Sizing, gpus: list[Gpu] | None, board: CommonGpu | None) -> VramEstimate:
    request, spec, base = sizing.request, sizing.model.spec, sizing.base
    reference = plan(base, None)
    counts = parameter_count(spec)
    notes = list(reference.notes)
    if spec.is_moe:
        notes.append(
            f"MoE: all {spec.num_experts} experts stay resident; "
            f"{counts.active / 1e9:.1f} B of {counts.total / 1e9:.1f} B params are "
            "active per token (speed, not memory)"
        )
    if not spec.has_kv_cache:
        notes.append(
            f"{spec.kind} model: batches keep no KV cache between requests; vLLM runs it with "
            "--runner pooling and still reserves gpu_memory_utilization × total"
        )
    if spec.vision is not None:
        notes.append(
            f"vision encoder: an image takes up to {spec.vision.tokens_per_image:,} tokens of "
            "the context; the profile run encodes one such image"
        )
    answer = VramEstimate(
        model=spec.name,
        model_source=sizing.model.source,
        model_reference=sizing.model.reference,
        engine=request.engine,
        quantization=base.quantization,
        kv_cache_dtype=request.kv_cache_dtype,
        context_length=base.context_length,
        concurrency=base.concurrency,
        tensor_parallel=base.tensor_parallel,
        parameters_b=round(counts.total / 1e9, 3),
        active_parameters_b=round(counts.active / 1e9, 3),
        weights_mib=round(base.weight_bytes / 2**20, 1),
        kv_per_token_kib=round(kv_for(base).bytes_per_token / 1024, 2),
        need_mib_per_gpu=round(reference.need_mib, 1),
        need_tensor_parallel=base.tensor_parallel,
        process_mib=round(reference.holds_mib, 1),
        required_mib=round(reference.holds_mib * base.gpus, 1),
        breakdown=reference.lines,
        live_data=gpus is not None,
        gpu_type=board.name if board else None,
        flags=" ".join(reference.flags),
        notes=notes,
    )
    if gpus is None and board is None:
        answer.common_gpus = common_gpu_fits(sizing.settings, request.engine, sizing.fixed_tp, spec)
        answer.notes.append("no live GPU data: the requirement and common GPUs are shown")
        return answer
    if board is not None:
        gpus = empty_boards(board, max(MAX_COMMON_GPUS, base.gpus))
        answer.notes.append(f"planned on empty {board.name} boards (up to {len(gpus)} of them)")
    else:
        answer.gpus = verdicts(base, gpus or [])
    placement = sizing.place(gpus or [])
    answer.placement = placement
    answer.starts = placement is not None
    answer.fits = placement is not None and placement.fits
    if placement is not None:
        answer.process_mib = placement.process_mib
        answer.required_mib = round(placement.process_mib * len(placement.gpu_indices), 1)
        answer.breakdown = placement.breakdown
        answer.tensor_parallel = placement.tensor_parallel
        answer.kv_cache_tokens = placement.kv_cache_tokens
        answer.max_context_tokens = placement.max_context_tokens
        answer.max_concurrency = placement.max_concurrency
        answer.flags = placement.flags
        answer.notes.extend(placement.notes)
    else:
        judged = answer.gpus or verdicts(base, (gpus or [])[:1])
        answer.errors = [v.verdict for v in judged if not v.fits_alone][:3]
        if board is None:
            answer.common_gpus = common_gpu_fits(
                sizing.settings, request.engine, sizing.fixed_tp, spec
            )
    if not answer.fits:
        answer.alternatives = what_would_fit(sizing, gpus or [], board)
    return answer
