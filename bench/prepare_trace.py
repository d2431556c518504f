"""Checks a recorded trace against what the shipped replay trace must show, and thins it to size.

    python3 bench/prepare_trace.py RAW.jsonl OUT.jsonl [--max-bytes 3000000]

The replay trace must span at least 150 s and show at least two GPU processes at once, one
attributed to vLLM with its model, with both busy and idle GPU phases while they are there.
The output keeps every snapshot when the raw trace fits in --max-bytes, else one snapshot
per interval (the recorder's own downsampling), the interval chosen to fit. Prints a summary
as JSON; exits 1 (after writing the output) when a requirement is not met.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gpu_insight.collector.recorder import downsample_trace
from gpu_insight.schemas import Snapshot

MIN_SPAN_S = 150.0
MIN_PROCESSES = 2
BUSY_PERCENT = 50.0
IDLE_PERCENT = 5.0


@dataclass
class TraceSummary:
    snapshots: int = 0
    span_s: float = 0.0
    median_step_s: float | None = None
    max_processes: int = 0
    busy_snapshots: int = 0  # some GPU ≥ BUSY_PERCENT while ≥ MIN_PROCESSES processes run
    idle_snapshots: int = 0  # every GPU ≤ IDLE_PERCENT while ≥ MIN_PROCESSES processes run
    engines: list[str] = field(default_factory=list)  # "engine model" of attributed processes
    engine_metrics_up: int = 0  # snapshots with at least one scraped engine that was up

    def problems(self) -> list[str]:
        found = []
        if self.span_s < MIN_SPAN_S:
            found.append(f"spans {self.span_s:.0f} s, needs at least {MIN_SPAN_S:.0f} s")
        if self.max_processes < MIN_PROCESSES:
            found.append(
                f"at most {self.max_processes} GPU process(es) at once, needs {MIN_PROCESSES}"
            )
        if self.busy_snapshots == 0:
            found.append(f"no busy phase (GPU ≥ {BUSY_PERCENT:.0f} % with the processes there)")
        if self.idle_snapshots == 0:
            found.append(f"no idle phase (GPU ≤ {IDLE_PERCENT:.0f} % with the processes there)")
        if not any(engine.startswith("vllm ") for engine in self.engines):
            found.append("no process attributed to vLLM with a model")
        return found


def summarize(snapshots: list[Snapshot]) -> TraceSummary:
    summary = TraceSummary(snapshots=len(snapshots))
    if not snapshots:
        return summary
    times = sorted(s.collected_at for s in snapshots)
    summary.span_s = times[-1] - times[0]
    steps = [b - a for a, b in itertools.pairwise(times)]
    summary.median_step_s = statistics.median(steps) if steps else None
    engines: set[str] = set()
    for snapshot in snapshots:
        count = len(snapshot.processes)
        summary.max_processes = max(summary.max_processes, count)
        utilizations = [
            g.utilization_percent for g in snapshot.gpus if g.utilization_percent is not None
        ]
        if count >= MIN_PROCESSES and utilizations:
            if max(utilizations) >= BUSY_PERCENT:
                summary.busy_snapshots += 1
            if max(utilizations) <= IDLE_PERCENT:
                summary.idle_snapshots += 1
        for process in snapshot.processes:
            attribution = process.attribution
            if attribution.engine != "unknown":
                engines.add(f"{attribution.engine} {attribution.model or '(no model)'}")
        if any(engine.up for engine in snapshot.engines):
            summary.engine_metrics_up += 1
    summary.engines = sorted(engines)
    return summary


def read_snapshots(path: Path) -> list[Snapshot]:
    with path.open(encoding="utf-8") as lines:
        return [Snapshot.model_validate_json(line) for line in lines if line.strip()]


def thin_to_size(raw: Path, out: Path, max_bytes: int, median_step_s: float | None) -> float | None:
    """Copies, or downsamples to fit `max_bytes`; returns the interval used (None: copied)."""
    size = raw.stat().st_size
    if size <= max_bytes:
        shutil.copyfile(raw, out)
        return None
    step = median_step_s or 1.0
    every_s = step * math.ceil(size / max_bytes)
    while True:
        downsample_trace(raw, out, every_s)
        if out.stat().st_size <= max_bytes:
            return every_s
        every_s += step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-bytes", type=int, default=3_000_000)
    args = parser.parse_args(argv)
    if args.max_bytes < 10_000:
        parser.error(f"--max-bytes must be at least 10000, got {args.max_bytes}")
    try:
        snapshots = read_snapshots(args.raw)
    except (OSError, ValueError) as exc:
        print(f"prepare_trace: cannot read {args.raw}: {exc}", file=sys.stderr)
        return 1
    summary = summarize(snapshots)
    every_s = thin_to_size(args.raw, args.out, args.max_bytes, summary.median_step_s)
    report = {
        **asdict(summary),
        "raw_bytes": args.raw.stat().st_size,
        "out_bytes": args.out.stat().st_size,
        "downsampled_every_s": every_s,
    }
    print(json.dumps(report, indent=1))
    problems = summary.problems()
    if problems:
        print(
            "prepare_trace: the trace does not show what the replay needs: " + "; ".join(problems),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
