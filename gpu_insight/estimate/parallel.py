"""Tensor/pipeline-parallel rules and compute-capability support of formats."""

from __future__ import annotations

import functools

from gpu_insight.estimate.spec import ModelSpec


def tp_problem(spec: ModelSpec, tensor_parallel: int) -> str | None:
    """vLLM's rule: heads divisible by TP; KV heads divisible by TP or TP by KV heads."""
    heads, kv = spec.num_attention_heads, spec.num_kv_heads
    accepted = ", ".join(str(t) for t in valid_tp_sizes(spec))
    if heads % tensor_parallel:
        return (
            f"tensor_parallel: Total number of attention heads ({heads}) must be divisible "
            f"by tensor parallel size ({tensor_parallel}); accepted: {accepted}"
        )
    if not spec.is_mla and kv % tensor_parallel and tensor_parallel % kv:
        return (
            f"tensor_parallel: {kv} KV heads cannot be split or replicated evenly over "
            f"{tensor_parallel} GPUs; accepted: {accepted}"
        )
    return None


def valid_tp_sizes(spec: ModelSpec, limit: int = 16) -> list[int]:
    heads, kv = spec.num_attention_heads, spec.num_kv_heads
    return [
        t
        for t in range(1, limit + 1)
        if heads % t == 0 and (spec.is_mla or kv % t == 0 or t % kv == 0)
    ]


@functools.lru_cache(maxsize=256)
def capability_problem(
    quantization: str, kv_dtype: str, compute_capability: str | None
) -> str | None:
    """Why a GPU of this compute capability cannot run the format (None: it can). Asked for
    every GPU of a fleet, which has few capabilities: remembered."""
    if not compute_capability:
        return None
    try:
        major, minor = (int(x) for x in compute_capability.split(".")[:2])
    except ValueError:
        return None
    cc = major + minor / 10
    needs = {
        "bf16": (8.0, "bf16 needs compute capability ≥ 8.0 (Ampere); use fp16"),
        "fp8": (
            8.0,
            "FP8 weights need compute capability ≥ 8.9 for W8A8 and ≥ 8.0 for "
            "weight-only FP8 Marlin",
        ),
        "awq": (7.5, "AWQ needs compute capability ≥ 7.5 (Turing)"),
        "int8": (7.5, "INT8 W8A8 needs compute capability ≥ 7.5 (Turing)"),
        "gptq": (7.0, "GPTQ needs compute capability ≥ 7.0 (Volta)"),
        "nf4": (7.0, "bitsandbytes needs compute capability ≥ 7.0 (Volta)"),
    }
    if quantization in needs and cc < needs[quantization][0]:
        return f"{needs[quantization][1]}; this GPU has {compute_capability}"
    if kv_dtype == "fp8" and cc < 8.0:
        return (
            f"FP8 KV cache needs compute capability ≥ 8.0 here; this GPU has {compute_capability}"
        )
    return None


def capability_note(quantization: str, compute_capability: str | None) -> str | None:
    if quantization == "fp8" and compute_capability and 8.0 <= float(compute_capability) < 8.9:
        return (
            "FP8 on compute capability 8.0–8.6 runs weight-only (W8A16, FP8 Marlin): memory "
            "as FP8, speed closer to bf16"
        )
    return None
