"""VRAM estimator: how much GPU memory a model takes on a serving engine, and where it fits.

Public API (pure functions, no I/O):

- `VramRequest` (pydantic): `model` (catalog name, HF id or alias) or `model_config_json`
  (a config.json dict or JSON text; wins), `engine` (one of `gpu_insight.engines.ENGINES`),
  `quantization` ("none" = the checkpoint's own format; bf16, fp16, fp32, fp8,
  int8, awq, gptq, nf4, GGUF q8_0 … iq4_xs), `context_length`, `concurrency`,
  `tensor_parallel` ("auto" or N), `pipeline_parallel`, `kv_cache_dtype` (auto, bf16, fp16,
  fp32, fp8, q8_0, q4_0), `gpu_memory_utilization`, `enforce_eager`. Bad values raise
  pydantic's ValidationError; `request_error_text(err)` makes it one line.
- `estimate(request) -> VramEstimate`: the requirement without live data (TP "auto" = 1), the
  breakdown, and which common GPUs would take it.
- `check_fit(request, gpus) -> VramEstimate`: the same against live `schemas.Gpu` readings
  (several hosts allowed): per-GPU verdicts, the best placement with headroom, the largest
  context and concurrency there, the exact engine flags.
- Both raise `errors.InputError` (naming the parameter) for requests that cannot be
  answered: unknown model (with the three closest names), context above the model maximum,
  TP that does not divide the heads, malformed config, a format, KV type or parallelism the
  engine does not have.
- Building blocks for other rules: `catalog.lookup`, `spec.from_hf_config`,
  `weights.parameter_count` / `weight_bytes`, `kv_cache.kv_layout`, `plans.plan`,
  `parallel.valid_tp_sizes` / `capability_problem`.
"""

from __future__ import annotations

from gpu_insight.estimate.placement import best_placement, common_gpu_fits, verdicts
from gpu_insight.estimate.plans import Settings, kv_for, plan
from gpu_insight.estimate.request import VramRequest, request_error_text
from gpu_insight.estimate.resolve import resolve_spec, settings_for
from gpu_insight.estimate.result import VramEstimate
from gpu_insight.estimate.weights import parameter_count
from gpu_insight.schemas import Gpu

__all__ = [
    "VramEstimate",
    "VramRequest",
    "check_fit",
    "estimate",
    "request_error_text",
]


def estimate(request: VramRequest) -> VramEstimate:
    return _answer(request, None)


def check_fit(request: VramRequest, gpus: list[Gpu]) -> VramEstimate:
    return _answer(request, gpus)


def _answer(request: VramRequest, gpus: list[Gpu] | None) -> VramEstimate:
    spec, source = resolve_spec(request)
    fixed_tp = None if request.tensor_parallel == "auto" else int(request.tensor_parallel)
    base = settings_for(request, spec, fixed_tp or 1)

    def make(tp: int) -> Settings:
        return base if tp == base.tensor_parallel else settings_for(request, spec, tp)

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
            "encoder model (embedding/rerank): no KV cache; vLLM runs it with "
            "--runner pooling and still reserves gpu_memory_utilization × total"
        )
    answer = VramEstimate(
        model=spec.name,
        model_source=source,
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
        required_mib=round(reference.holds_mib * base.gpus, 1),
        breakdown=reference.lines,
        live_data=gpus is not None,
        fits=None,
        max_context_tokens=None,
        flags=" ".join(reference.flags),
        notes=notes,
    )
    if gpus is None:
        answer.common_gpus = common_gpu_fits(make, request.engine, fixed_tp, spec)
        answer.notes.append("no live GPU data: the requirement and common GPUs are shown")
        return answer
    answer.gpus = verdicts(base, gpus)
    placement = best_placement(make, request.engine, fixed_tp, spec, gpus)
    answer.placement = placement
    answer.fits = placement is not None
    if placement is not None:
        answer.required_mib = round(
            placement.holds_mib_per_gpu * placement.tensor_parallel * base.pipeline_parallel, 1
        )
        answer.breakdown = placement.breakdown
        answer.tensor_parallel = placement.tensor_parallel
        answer.max_context_tokens = placement.max_context_tokens
        answer.max_concurrency = placement.max_concurrency
        answer.flags = placement.flags
        answer.notes.extend(placement.notes)
    else:
        answer.errors = [v.verdict for v in answer.gpus if not v.fits_alone][:3]
        answer.common_gpus = common_gpu_fits(make, request.engine, fixed_tp, spec)
    return answer
