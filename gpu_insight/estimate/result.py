"""What an estimate answers. Every figure traces to a `BreakdownLine`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BreakdownLine(BaseModel):
    name: str
    mib: float
    formula: str


class GpuVerdict(BaseModel):
    host: str | None
    index: int
    name: str
    total_mib: float | None
    free_mib: float | None
    fits_alone: bool
    verdict: str


class Placement(BaseModel):
    host: str | None
    gpu_indices: list[int]
    gpu_names: list[str]
    tensor_parallel: int
    holds_mib_per_gpu: float
    headroom_mib: float  # free now minus what the engine holds, on the tightest chosen GPU
    max_context_tokens: int
    max_concurrency: float | None
    flags: str
    breakdown: list[BreakdownLine]
    notes: list[str] = Field(default_factory=list)


class CommonGpuFit(BaseModel):
    name: str
    usable_mib: float
    gpus_needed: int | None  # None: does not fit even at the largest valid TP
    flags: str | None


class VramEstimate(BaseModel):
    model: str
    model_source: str
    engine: str
    quantization: str
    kv_cache_dtype: str
    context_length: int
    concurrency: int
    tensor_parallel: int
    parameters_b: float
    active_parameters_b: float
    weights_mib: float
    kv_per_token_kib: float
    need_mib_per_gpu: float  # minimum to run the requested context × concurrency
    required_mib: float  # what the engine holds on all its GPUs together
    breakdown: list[BreakdownLine]
    live_data: bool
    fits: bool | None  # None without live data
    gpus: list[GpuVerdict] = Field(default_factory=list)
    placement: Placement | None = None
    max_context_tokens: int | None = None
    max_concurrency: float | None = None
    flags: str = ""
    common_gpus: list[CommonGpuFit] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
