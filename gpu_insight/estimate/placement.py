"""Where a model fits: live GPUs from collector snapshots, or common GPU types when offline."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from gpu_insight.engines import engine
from gpu_insight.errors import InputError, quoted
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
    compute_capability: str | None  # None: a board known only by its memory
    keys: tuple[str, ...] = ()  # the loose names `gpu_type` accepts, first as listed


# Typical torch-visible totals (torch.cuda.mem_get_info) per board.
COMMON_GPUS: tuple[CommonGpu, ...] = (
    CommonGpu("NVIDIA T4 16GB", 14_930, "7.5", ("T4",)),
    CommonGpu("NVIDIA L4 24GB", 22_569, "8.9", ("L4",)),
    CommonGpu("NVIDIA A10 24GB", 22_731, "8.6", ("A10",)),
    CommonGpu("NVIDIA RTX 4090 24GB", 24_082, "8.9", ("RTX 4090", "4090")),
    CommonGpu("NVIDIA A100 40GB", 40_339, "8.0", ("A100-40GB",)),
    CommonGpu("NVIDIA L40S 48GB", 45_470, "8.9", ("L40S",)),
    CommonGpu("NVIDIA A100 80GB", 81_050, "8.0", ("A100-80GB", "A100")),
    CommonGpu("NVIDIA H100 80GB", 81_079, "9.0", ("H100", "H100 SXM", "H100 PCIe")),
    CommonGpu("NVIDIA H200 141GB", 143_771, "9.0", ("H200", "H200 SXM")),
)
MAX_COMMON_GPUS = 8
# The `Gpu` fields a placement reads besides each GPU's identity, capability and health.
PLACEMENT_GPU_FIELDS = frozenset({"memory_total_mib", "memory_reserved_mib", "memory_free_mib"})
MIN_PLANNED_MIB = 1024
MAX_PLANNED_MIB = 1024 * 1024


def usable_total_mib(gpu: Gpu) -> float | None:
    if gpu.memory_total_mib is None:
        return None
    return gpu.memory_total_mib - (gpu.memory_reserved_mib or 0.0)


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


Planner = Callable[[Settings, GpuTarget], Plan]


def planner() -> Planner:
    """`plan`, once per settings, board and memory state: a fleet of 1,000 GPUs holds far
    fewer kinds of GPU, and its idle boards of one kind are alike."""
    plans: dict[tuple[Settings, GpuTarget], Plan] = {}

    def planned(settings: Settings, target: GpuTarget) -> Plan:
        key = (settings, target)
        found = plans.get(key)
        if found is None:
            found = plans[key] = plan(settings, target)
        return found

    return planned


def verdicts(settings: Settings, gpus: list[Gpu]) -> list[GpuVerdict]:
    """Per GPU: would it serve the request alone, now?"""
    out = []
    single = settings if settings.gpus == 1 else None
    planned = planner()
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
            result = planned(single, GpuTarget(gpu.name, total, free))
            ok = result.serves(single.concurrency, free)
            verdict = _verdict(single, result, free)
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


def _verdict(s: Settings, result: Plan, free: float) -> str:
    if result.errors:
        return "does not start: " + result.errors[0]
    if not result.starts(free):
        return f"does not start: needs {result.start_mib:,.0f} MiB, {free:,.0f} MiB free"
    served = f"holds {result.holds_mib:,.0f} MiB of {free:,.0f} MiB free"
    if result.serves(s.concurrency, free):
        return f"fits: {served}"
    return (
        f"starts, but serves {result.max_concurrency} × {s.context_length:,} tokens, "
        f"not {s.concurrency}: {served}"
    )


def best_placement(
    make_settings: SettingsFactory,
    served: KnownEngine,
    tensor_parallel: int | None,
    spec: ModelSpec,
    gpus: list[Gpu],
) -> Placement | None:
    """GPUs of one host where the engine starts (TP × PP of them): the fewest that serve the
    requested work, ties broken by headroom; when none serves it, the fewest that start.
    None when it starts nowhere."""
    by_host: dict[str | None, list[Gpu]] = defaultdict(list)
    for gpu in gpus:
        if gpu.health != "lost" and gpu.memory_free_mib is not None and usable_total_mib(gpu):
            by_host[gpu.host].append(gpu)
    candidates: list[Placement] = []
    planned = planner()
    for host, host_gpus in by_host.items():
        ranked = sorted(host_gpus, key=lambda g: g.memory_free_mib or 0, reverse=True)
        for tp in tp_candidates(served, tensor_parallel, spec, len(ranked)):
            candidate = _place(make_settings(tp), host, ranked, planned)
            if candidate is not None:
                candidates.append(candidate)
                if candidate.fits:
                    break
    if not candidates:
        return None
    return min(candidates, key=lambda p: (not p.fits, len(p.gpu_indices), -p.headroom_mib))


def _place(
    settings: Settings, host: str | None, ranked: list[Gpu], planned: Planner
) -> Placement | None:
    """The engine on the `settings.gpus` GPUs with the most free memory, if it starts there."""
    if settings.gpus > len(ranked):
        return None
    chosen = ranked[: settings.gpus]
    if any(
        capability_problem(settings.quantization, settings.kv_dtype, g.compute_capability)
        for g in chosen
    ):
        return None
    tight = min(chosen, key=lambda g: g.memory_free_mib or 0)
    free = tight.memory_free_mib
    total = min(usable_total_mib(g) or 0 for g in chosen)
    result = planned(settings, GpuTarget(tight.name, total, free))
    if not result.starts(free):
        return None
    return Placement(
        host=host,
        gpu_indices=[g.index for g in chosen],
        gpu_names=[g.name for g in chosen],
        tensor_parallel=settings.tensor_parallel,
        fits=result.serves(settings.concurrency, free),
        process_mib=round(result.holds_mib, 1),
        headroom_mib=round((free or 0) - result.holds_mib, 1),
        kv_cache_tokens=result.kv_cache_tokens,
        max_context_tokens=result.max_context_tokens,
        max_concurrency=result.max_concurrency,
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


def common_gpu_fits(
    make_settings: SettingsFactory,
    served: KnownEngine,
    tensor_parallel: int | None,
    spec: ModelSpec,
) -> list[CommonGpuFit]:
    """Which common boards would serve the request when empty, and with how many of them."""
    out = []
    for board in COMMON_GPUS:
        placement = best_placement(
            make_settings, served, tensor_parallel, spec, empty_boards(board, MAX_COMMON_GPUS)
        )
        fitting = placement if placement is not None and placement.fits else None
        out.append(
            CommonGpuFit(
                name=board.name,
                usable_mib=board.usable_mib,
                gpus_needed=len(fitting.gpu_indices) if fitting else None,
                flags=fitting.flags if fitting else None,
            )
        )
    return out


def empty_boards(board: CommonGpu, count: int) -> list[Gpu]:
    """`count` idle GPUs of one type on one host, as a collector would report them."""
    return [
        Gpu(
            index=i,
            uuid=f"planned-{i}",
            name=board.name,
            compute_capability=board.compute_capability,
            memory_total_mib=board.usable_mib,
            memory_reserved_mib=0.0,
            memory_free_mib=board.usable_mib,
            memory_used_mib=0.0,
        )
        for i in range(count)
    ]


def board_named(gpu_type: str) -> CommonGpu:
    """A common board by a loose name (`H200`, `a100-40gb`, `RTX 4090`), or a board of that
    many MiB; `InputError` naming gpu_type otherwise."""
    text = gpu_type.strip()
    if text.isdecimal():
        mib = int(text)
        if not MIN_PLANNED_MIB <= mib <= MAX_PLANNED_MIB:
            raise InputError(
                f"gpu_type: {mib:,} MiB is out of range; accepted: {MIN_PLANNED_MIB:,} to "
                f"{MAX_PLANNED_MIB:,} MiB, or a GPU name",
                "gpu_type",
            )
        return CommonGpu(f"{mib:,} MiB GPU", float(mib), None)
    key = _board_key(text)
    for board in COMMON_GPUS:
        if key in {_board_key(name) for name in (board.name, *board.keys)}:
            return board
    names = ", ".join(b.keys[0] for b in COMMON_GPUS)
    raise InputError(
        f"gpu_type: {quoted(gpu_type)} is not a known GPU; accepted: {names}, or a number of "
        "MiB such as 24576",
        "gpu_type",
    )


def _board_key(name: str) -> str:
    key = name.lower().removeprefix("nvidia").replace("geforce", "")
    return re.sub(r"[^a-z0-9]", "", key)
