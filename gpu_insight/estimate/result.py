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
    """Where the engine starts: GPUs of one host, and what it serves there."""

    host: str | None
    gpu_indices: list[int]
    gpu_names: list[str]
    tensor_parallel: int
    fits: bool  # the requested context × concurrency is served there
    process_mib: float  # what the engine process holds per GPU, as NVML reports it
    headroom_mib: float  # free now minus what the engine holds, on the tightest chosen GPU
    kv_cache_tokens: int
    max_context_tokens: int  # per sequence at the requested concurrency
    max_concurrency: int  # sequences at the requested context
    flags: str
    breakdown: list[BreakdownLine]
    notes: list[str] = Field(default_factory=list)


class Alternative(BaseModel):
    """One change to the request that makes it fit, with what the engine does then."""

    change: str  # the kind of change: kv_cache_dtype, quantization, context_length, ...
    parameters: dict[str, str | int]  # the vram_check parameters that make the change
    text: str  # one sentence with the numbers and the flags
    where: str  # the GPUs it would run on
    process_mib: float
    kv_cache_tokens: int
    max_context_tokens: int
    max_concurrency: int
    flags: str


class CommonGpuFit(BaseModel):
    name: str
    usable_mib: float
    gpus_needed: int | None  # None: does not fit even at the largest valid TP
    flags: str | None


class VramEstimate(BaseModel):
    model: str
    model_source: str  # pasted, catalog, hub or gguf header
    model_reference: str  # the catalog entry's config URL, or the repository at its revision
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
    need_tensor_parallel: int  # the GPUs need_mib_per_gpu is for; a placement may take more
    process_mib: float  # what the engine process holds per GPU, as NVML reports it
    required_mib: float  # what the engine holds on all its GPUs together
    breakdown: list[BreakdownLine]
    live_data: bool
    gpu_type: str | None = None  # planned on empty boards of this type, not on live GPUs
    starts: bool | None = None  # None without GPUs to plan on
    fits: bool | None = None  # the requested context × concurrency is served (None: no GPUs)
    gpus: list[GpuVerdict] = Field(default_factory=list)
    placement: Placement | None = None
    kv_cache_tokens: int | None = None
    max_context_tokens: int | None = None
    max_concurrency: int | None = None
    flags: str = ""
    alternatives: list[Alternative] = Field(default_factory=list)  # what would fit, best first
    common_gpus: list[CommonGpuFit] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
