"""Holds the collector's engine rates to a real vLLM's own counters, while a load runs.

    python3 bench/engine_collector_check.py --collector URL --token T --engine URL \
        --epoch E --cycle-s 60 --busy-s 35 --window-s 20 --duration-s 150 --out DIR

Every second it reads the engine's `/metrics` (`vllm:request_success_total`,
`vllm:prompt_tokens_total`, `vllm:generation_tokens_total`) and every two seconds the
collector's `/v1/snapshot`. Afterwards, for each snapshot whose rate window (`--window-s`, the
collector's `engines.window_s`) lies inside one busy phase, it computes the same rates from
the engine's counters over that window and compares. DIR receives engine_collector_check.json
(samples, comparisons, verdict: every rate within 5 %) and the real answers seen at the end:
vllm_metrics.txt, vllm_version.json, collector_snapshot.json, collector_metrics.txt.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

TOLERANCE = 0.05
PHASE_MARGIN_S = 3.0  # the first seconds of a busy phase ramp up; windows start after them
COUNTERS = {
    "requests_per_s": "vllm:request_success_total",
    "prompt_tokens_per_s": "vllm:prompt_tokens_total",
    "generation_tokens_per_s": "vllm:generation_tokens_total",
}


def fetch(url: str, token: str | None = None, timeout_s: float = 5.0) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.read().decode()


def counter_sum(text: str, name: str) -> float | None:
    """The sum of a counter's samples over all label sets (None when absent)."""
    values = [
        float(match.group(1))
        for match in re.finditer(
            rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.eE+-]+)$", text, re.MULTILINE
        )
    ]
    return sum(values) if values else None


def value_at(readings: list[tuple[float, float]], at: float) -> float | None:
    """A cumulative counter at time `at`, linear between the two readings around it."""
    times = [t for t, _ in readings]
    index = bisect.bisect_left(times, at)
    if index == 0 or index == len(readings):
        return None
    (t0, v0), (t1, v1) = readings[index - 1], readings[index]
    return v0 + (v1 - v0) * (at - t0) / (t1 - t0)


def inside_busy_phase(
    start: float, end: float, epoch: float, cycle_s: float, busy_s: float
) -> bool:
    if start < epoch:
        return False
    cycle = (start - epoch) // cycle_s
    phase_start = epoch + cycle * cycle_s
    return start >= phase_start + PHASE_MARGIN_S and end <= phase_start + busy_s


def compare(
    engine_readings: dict[str, list[tuple[float, float]]],
    snapshots: list[dict[str, Any]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    comparisons = []
    for sample in snapshots:
        end = sample["scraped_at"]
        start = end - args.window_s
        if not inside_busy_phase(start, end, args.epoch, args.cycle_s, args.busy_s):
            continue
        row: dict[str, Any] = {"scraped_at": end}
        for field, counter in COUNTERS.items():
            readings = engine_readings[counter]
            old, new = value_at(readings, start), value_at(readings, end)
            collector = sample.get(field)
            if old is None or new is None or collector is None:
                continue
            engine_rate = (new - old) / args.window_s
            row[field] = {
                "collector": collector,
                "engine": engine_rate,
                "relative_difference": abs(collector - engine_rate) / engine_rate
                if engine_rate
                else None,
            }
        comparisons.append(row)
    return comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collector", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--engine", required=True, help="the vLLM server's base URL")
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--cycle-s", type=float, default=60.0)
    parser.add_argument("--busy-s", type=float, default=35.0)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--duration-s", type=float, default=150.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not 0 < args.duration_s <= 900:
        raise SystemExit("--duration-s must be in (0, 900]")
    args.out.mkdir(parents=True, exist_ok=True)
    engine_readings: dict[str, list[tuple[float, float]]] = {name: [] for name in COUNTERS.values()}
    snapshots: list[dict[str, Any]] = []
    engine_metrics_url = f"{args.engine}/metrics"
    deadline = time.time() + args.duration_s
    tick = 0
    while time.time() < deadline:
        try:
            text = fetch(engine_metrics_url)
            now = time.time()
            for name in engine_readings:
                value = counter_sum(text, name)
                if value is not None:
                    engine_readings[name].append((now, value))
        except OSError as exc:
            print(f"engine_collector_check: engine /metrics: {exc}", flush=True)
        if tick % 2 == 0:
            try:
                snapshot = json.loads(fetch(f"{args.collector}/v1/snapshot", args.token))
                entry = next((e for e in snapshot["engines"] if e["engine"] == "vllm"), None)
                if entry is not None and entry.get("up"):
                    snapshots.append(entry)
            except (OSError, ValueError) as exc:
                print(f"engine_collector_check: collector: {exc}", flush=True)
        tick += 1
        time.sleep(1.0)

    (args.out / "vllm_metrics.txt").write_text(fetch(engine_metrics_url))
    (args.out / "vllm_version.json").write_text(fetch(f"{args.engine}/version"))
    (args.out / "collector_snapshot.json").write_text(
        fetch(f"{args.collector}/v1/snapshot", args.token)
    )
    (args.out / "collector_metrics.txt").write_text(fetch(f"{args.collector}/metrics", args.token))

    comparisons = compare(engine_readings, snapshots, args)
    worst: dict[str, float | None] = {}
    for field in COUNTERS:
        differences = [
            row[field]["relative_difference"]
            for row in comparisons
            if field in row and row[field]["relative_difference"] is not None
        ]
        worst[field] = max(differences) if differences else None
    verdict = bool(comparisons) and all(
        value is not None and value <= TOLERANCE for value in worst.values()
    )
    report = {
        "window_s": args.window_s,
        "tolerance": TOLERANCE,
        "compared_snapshots": len(comparisons),
        "worst_relative_difference": worst,
        "median_relative_difference": {
            field: statistics.median(
                row[field]["relative_difference"] for row in comparisons if field in row
            )
            if any(field in row for row in comparisons)
            else None
            for field in COUNTERS
        },
        "within_tolerance": verdict,
        "comparisons": comparisons,
        "collector_samples": snapshots,
        "engine_readings": engine_readings,
    }
    (args.out / "engine_collector_check.json").write_text(json.dumps(report, indent=1))
    print(
        f"engine_collector_check: {len(comparisons)} windows compared; worst {worst}; "
        f"{'PASS' if verdict else 'FAIL'}",
        flush=True,
    )


if __name__ == "__main__":
    main()
