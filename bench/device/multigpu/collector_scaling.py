"""What the collector costs as the GPUs of one host add up (issue 18 §4).

    python3 bench/device/multigpu/collector_scaling.py --out FILE [--quick]

The fast tier, the slow tier (NVLink links and remapped rows included) and a default sampler
tick, timed with the host's first 1, 2, 4, … GPUs: the code paths of bench/collector_bench.py,
which measures the whole host beside nvidia-smi, gpustat and nvitop and the collector's CPU at
default cadence. NVML always lists every GPU; `FirstGpus` shows the collector only the first
k, so one host gives every point. Verdicts: at the host's GPU count the fast tier costs at most
0.2 ms per GPU, and per GPU no more than 1.25× what it costs with one GPU (linear at worst).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pynvml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "engines"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from collector_bench import FULL, QUICK, TARGETS, Sizes, bench_backend, bench_sampler
from multicast_off import require

LINEAR_SLACK = 1.25  # per-GPU cost at N GPUs over the cost at one GPU


class FirstGpus:
    """The pynvml module as the collector sees it, with only the first `count` GPUs listed."""

    def __init__(self, nvml: Any, count: int) -> None:
        self._nvml = nvml
        self._count = count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nvml, name)

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802 (pynvml's name)
        return min(self._count, self._nvml.nvmlDeviceGetCount())


def gpu_counts(available: int) -> list[int]:
    """1, 2, 4, … up to the host's count, which is always the last point."""
    counts = [1 << power for power in range(available.bit_length()) if 1 << power < available]
    return [*counts, available]


def point(nvml: Any, count: int, sizes: Sizes, state_dir: Path) -> dict[str, Any]:
    visible = FirstGpus(nvml, count)
    backend = bench_backend(visible, sizes)
    sampler = bench_sampler(visible, sizes, state_dir)
    return {
        "gpus": backend["gpus"],
        "fast_tier_per_gpu": backend["fast_tier_per_gpu"],
        "fast_tier_all_gpus": backend["fast_tier_all_gpus"],
        "slow_tier_all_gpus": backend["slow_tier_all_gpus"],
        "default_tick": sampler["default_tick"],
        "full_snapshot": sampler["full_snapshot"],
    }


def verdicts(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first, last = points[0], points[-1]
    per_gpu = last["fast_tier_per_gpu"]["median_us"]
    limit = TARGETS["fast_tier_per_gpu_median_us_max"]
    growth = per_gpu / first["fast_tier_per_gpu"]["median_us"]
    return [
        {
            "measure": f"fast-tier sample per GPU, median µs, {last['gpus']} GPUs",
            "value": per_gpu,
            "target": f"≤ {limit:g}",
            "met": per_gpu <= limit,
        },
        {
            "measure": f"per-GPU fast-tier cost at {last['gpus']} GPUs ÷ at {first['gpus']}",
            "value": round(growth, 2),
            "target": f"≤ {LINEAR_SLACK:g} (linear or better)",
            "met": growth <= LINEAR_SLACK,
        },
    ]


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"## Collector cost by GPU count {report['date']} — {report['gpu']}",
        "",
        "| GPUs | fast tier, all GPUs | per GPU | slow tier | default tick | full snapshot |",
        "|---|---|---|---|---|---|",
    ]
    for p in report["points"]:
        cells = [
            p[key]["median_us"]
            for key in (
                "fast_tier_all_gpus",
                "fast_tier_per_gpu",
                "slow_tier_all_gpus",
                "default_tick",
                "full_snapshot",
            )
        ]
        lines.append(f"| {p['gpus']} | " + " | ".join(f"{c:.1f} µs" for c in cells) + " |")
    lines += ["", "| measure | value | target | met |", "|---|---|---|---|"]
    lines += [
        f"| {v['measure']} | {v['value']} | {v['target']} | {'yes' if v['met'] else '**no**'} |"
        for v in report["verdicts"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="few iterations")
    args = parser.parse_args(argv)
    require()
    pynvml.nvmlInit()
    try:
        available = pynvml.nvmlDeviceGetCount()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        driver = pynvml.nvmlSystemGetDriverVersion()
    finally:
        pynvml.nvmlShutdown()
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="gpu-insight-scaling-") as tmp:
        points = [point(pynvml, count, sizes, Path(tmp)) for count in gpu_counts(available)]
    report = {
        "date": dt.date.today().isoformat(),
        "gpu": name.decode() if isinstance(name, bytes) else name,
        "driver_version": driver.decode() if isinstance(driver, bytes) else driver,
        "quick": args.quick,
        "points": points,
        "verdicts": verdicts(points),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(markdown(report))
    return 0 if all(v["met"] for v in report["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
