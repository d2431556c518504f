"""Where a model fits: live GPUs from collector snapshots, or common GPU types when offline."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from gpu_insight.engines import engine
from gpu_insight.estimate.parallel import capability_note, capability_problem, valid_tp_sizes
from gpu_insight.estimate.plans import GpuTarget, Plan, Settings, plan
from gpu_insight.estimate.result import CommonGpuFit, GpuVerdict, Placement
from gpu_insight.estimate.spec import ModelSpec
from gpu_insight.schemas import Gpu, KnownEngine

SettingsFactory = Callable[[int], Settings]


@dataclass(frozen=True)
class CommonGpu:
    name: str
    usable_mib: float  # what CUDA reports as total (NVML total minus the driver reserve)
    compute_capability: str


# Typical torch-visible totals (torch.cuda.mem_get_info) per board.
COMMON_GPUS: tuple[CommonGpu, ...] = (
    CommonGpu("NVIDIA T4 16GB", 14_930, "7.5"),
    CommonGpu("NVIDIA L4 24GB", 22_569, "8.9"),
    CommonGpu("NVIDIA A10 24GB", 22_731, "8.6"),
    CommonGpu("NVIDIA RTX 4090 24GB", 24_082, "8.9"),
    CommonGpu("NVIDIA A100 40GB", 40_339, "8.0"),
    CommonGpu("NVIDIA L40S 48GB", 45_470, "8.9"),
    CommonGpu("NVIDIA A100 80GB", 81_050, "8.0"),
    CommonGpu("NVIDIA H100 80GB", 81_079, "9.0"),
    CommonGpu("NVIDIA H200 141GB", 143_771, "9.0"),
)
MAX_COMMON_GPUS = 8


def usable_total_mib(gpu: Gpu) -> float | None:
    if gpu.memory_total_mib is None:
        return None
    return gpu.memory_total_mib - (gpu.memory_reserved_mib or 0.0)


def fits(result: Plan, free_mib: float | None) -> bool:
    return not result.errors and (free_mib is None or result.holds_mib <= free_mib)


def tp_candidates(
    served: KnownEngine, tensor_parallel: int | None, spec: ModelSpec, limit: int
) -> list[int]:
    """TP sizes to try, smallest first: the requested one, or valid powers of two (1 only on
    an engine without tensor parallelism)."""
    if tensor_parallel is not None:
        return [tensor_parallel]
    if not engine(served).has("tensor_parallel"):
        return [1]
    return [t for t in valid_tp_sizes(spec, limit) if t & (t - 1) == 0]


def verdicts(settings: Settings, gpus: list[Gpu]) -> list[GpuVerdict]:
    """Per GPU: could it take the model alone, now?"""
    out = []
    single = settings if settings.gpus == 1 else None
    for gpu in gpus:
        total, free = usable_total_mib(gpu), gpu.memory_free_mib
        problem = capability_problem(
            settings.quantization, settings.kv_dtype, gpu.compute_capability
        )
        if gpu.health == "lost" or total is None or free is None:
            verdict, ok = "no memory reading for this GPU", False
        elif problem:
            verdict, ok = f"unsupported: {problem}", False
        elif single is None:
            verdict, ok = f"part of a {settings.gpus}-GPU placement at most", False
        else:
            result = plan(single, GpuTarget(gpu.name, total, free))
            ok = fits(result, free)
            verdict = (
                f"fits: holds {result.holds_mib:,.0f} MiB of {free:,.0f} MiB free"
                if ok
                else _why_not(result, free)
            )
        out.append(
            GpuVerdict(
                host=gpu.host,
                index=gpu.index,
                name=gpu.name,
                total_mib=total,
                free_mib=free,
                fits_alone=ok,
                verdict=verdict,
            )
        )
    return out


def _why_not(result: Plan, free: float) -> str:
    if result.errors:
        return "does not fit: " + result.errors[0]
    return f"does not fit: needs {result.holds_mib:,.0f} MiB, {free:,.0f} MiB free"


def best_placement(
    make_settings: SettingsFactory,
    served: KnownEngine,
    tensor_parallel: int | None,
    spec: ModelSpec,
    gpus: list[Gpu],
) -> Placement | None:
    """Fewest GPUs on one host that take the model now (TP × PP of them); ties broken by
    headroom."""
    by_host: dict[str | None, list[Gpu]] = defaultdict(list)
    for gpu in gpus:
        if gpu.health != "lost" and gpu.memory_free_mib is not None and usable_total_mib(gpu):
            by_host[gpu.host].append(gpu)
    best: Placement | None = None
    for host, host_gpus in by_host.items():
        ranked = sorted(host_gpus, key=lambda g: g.memory_free_mib or 0, reverse=True)
        for tp in tp_candidates(served, tensor_parallel, spec, len(ranked)):
            settings = make_settings(tp)
            if settings.gpus > len(ranked):
                continue
            chosen = ranked[: settings.gpus]
            if any(
                capability_problem(settings.quantization, settings.kv_dtype, g.compute_capability)
                for g in chosen
            ):
                continue
            tight = min(chosen, key=lambda g: g.memory_free_mib or 0)
            total = min(usable_total_mib(g) or 0 for g in chosen)
            result = plan(settings, GpuTarget(tight.name, total, tight.memory_free_mib))
            if not fits(result, tight.memory_free_mib):
                continue
            headroom = (tight.memory_free_mib or 0) - result.holds_mib
            candidate = Placement(
                host=host,
                gpu_indices=[g.index for g in chosen],
                gpu_names=[g.name for g in chosen],
                tensor_parallel=tp,
                holds_mib_per_gpu=round(result.holds_mib, 1),
                headroom_mib=round(headroom, 1),
                max_context_tokens=result.max_context_tokens,
                max_concurrency=None
                if result.max_concurrency is None
                else round(result.max_concurrency, 2),
                flags=" ".join(result.flags),
                breakdown=result.lines,
                notes=[
                    n
                    for n in [
                        *result.notes,
                        capability_note(settings.quantization, tight.compute_capability),
                    ]
                    if n
                ],
            )
            if best is None or (tp, -headroom) < (best.tensor_parallel, -best.headroom_mib):
                best = candidate
            break
    return best


def common_gpu_fits(
    make_settings: SettingsFactory,
    served: KnownEngine,
    tensor_parallel: int | None,
    spec: ModelSpec,
) -> list[CommonGpuFit]:
    """Which common boards would take the model when empty, and with how many of them."""
    out = []
    for board in COMMON_GPUS:
        needed, flags = None, None
        for tp in tp_candidates(served, tensor_parallel, spec, MAX_COMMON_GPUS):
            settings = make_settings(tp)
            if capability_problem(
                settings.quantization, settings.kv_dtype, board.compute_capability
            ):
                break
            result = plan(settings, GpuTarget(board.name, board.usable_mib, board.usable_mib))
            if fits(result, board.usable_mib):
                needed, flags = settings.gpus, " ".join(result.flags)
                break
        out.append(
            CommonGpuFit(
                name=board.name, usable_mib=board.usable_mib, gpus_needed=needed, flags=flags
            )
        )
    return out
