"""What the collector costs on a GPU host, next to the usual tools, in one run (~4-5 minutes).

    python3 bench/collector_bench.py [--out FILE] [--quick]

Run from the repository root on a GPU host, with the collector's dependencies importable
(bench/device/setup.sh). Measures, idle first and then with the GPU load generators running:
- the collector's own code paths in this process: a fast-tier sample (`NvmlBackend.sample_fast`,
  per GPU), the process-utilization and slow tiers, a default sampler tick and a full snapshot
  (`Sampler.tick` with every tier due: NVML, attribution, alerts, history, accounting);
- `nvidia-smi --query-gpu=...` and `--query-compute-apps=...` as subprocesses, `gpustat --json`
  as a separate process, nvitop's `Device.all()` + `as_snapshot()` (in its own process);
- the real collector (`python -m gpu_insight.collector`) as a subprocess: its CPU use over a
  window at default cadence, idle and busy;
- `/v1/snapshot` and `/metrics` latency under bench/api_load.py's fixed-rate loopback load, with
  collector and load client pinned to two CPUs (the target is "on a 2-core machine").
Writes bench/results/collector-<date>-<gpu>.json and prints a markdown summary. Exits 1 when
a section failed (the others still run).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api_load import percentile
from collector_process import ROOT, CollectorProcess

from gpu_insight.collector.backends.nvml import NvmlBackend
from gpu_insight.collector.config import AccountingConfig, CollectorConfig, SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics
from gpu_insight.collector.service import build_service

TARGETS = {
    "fast_tier_per_gpu_median_us_max": 200.0,
    "nvidia_smi_to_fast_tier_ratio_min": 100.0,
    "collector_cpu_percent_of_one_core_max": 1.0,
    "api_p99_ms_max": 5.0,
    "api_rate_per_s": 500.0,
}
# Tried in order: clocks_event_reasons is the newer name of clocks_throttle_reasons.
SMI_GPU_QUERIES = (
    "index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,"
    "temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,clocks_event_reasons.active",
    "index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,"
    "temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,clocks_throttle_reasons.active",
)
SMI_APPS_QUERY = "pid,used_memory"
API_CPUS = {0, 1}
LOAD_READY_TIMEOUT_S = 150.0


@dataclass(frozen=True)
class Sizes:
    fast: int
    process_utilization: int
    slow: int
    ticks: int
    full_snapshots: int
    smi: int
    gpustat: int
    nvitop: int
    cpu_window_s: float
    api_duration_s: float


FULL = Sizes(
    fast=3000,
    process_utilization=200,
    slow=60,
    ticks=500,
    full_snapshots=150,
    smi=40,
    gpustat=10,
    nvitop=20,
    cpu_window_s=60.0,
    api_duration_s=10.0,
)
QUICK = Sizes(
    fast=300,
    process_utilization=20,
    slow=10,
    ticks=50,
    full_snapshots=20,
    smi=5,
    gpustat=2,
    nvitop=3,
    cpu_window_s=10.0,
    api_duration_s=3.0,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- timing -------------------------------------------------------------------------------------


def time_calls(call: Callable[[], object], n: int, warmup: int = 5) -> list[int]:
    """Wall time of `n` calls in nanoseconds, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return samples


def summarize_ns(samples: list[int], divide_by: int = 1) -> dict[str, float]:
    """Median, p99, mean and min in microseconds (each divided by `divide_by`, e.g. GPUs)."""
    ordered = sorted(s / divide_by / 1000 for s in samples)
    return {
        "n": len(ordered),
        "median_us": round(percentile(ordered, 0.5), 2),
        "p99_us": round(percentile(ordered, 0.99), 2),
        "mean_us": round(sum(ordered) / len(ordered), 2),
        "min_us": round(ordered[0], 2),
    }


# -- the collector's code paths, in this process ------------------------------------------------


# `nvml` below is the pynvml module to use: None for the real one (a fake in smoke tests).


def bench_backend(nvml: Any, sizes: Sizes) -> dict[str, Any]:
    """Each tier of the backend alone, as the sampler calls it."""
    backend = NvmlBackend(SamplingConfig(), SelfMetrics(), nvml=nvml)
    try:
        first = backend.sample_fast(time.time())
        if first.down_reason is not None:
            raise RuntimeError(f"NVML backend is down: {first.down_reason}")
        gpus = len(first.gpus)
        fast = time_calls(lambda: backend.sample_fast(time.time()), sizes.fast, warmup=20)
        utilization = time_calls(
            lambda: backend.sample_process_utilization(time.time()), sizes.process_utilization
        )
        slow = time_calls(lambda: backend.sample_slow(time.time()), sizes.slow)
        processes = len(backend.sample_fast(time.time()).processes)
    finally:
        backend.close()
    return {
        "gpus": gpus,
        "processes": processes,
        "fast_tier_per_gpu": summarize_ns(fast, gpus),
        "fast_tier_all_gpus": summarize_ns(fast),
        "process_utilization_tier_all_gpus": summarize_ns(utilization),
        "slow_tier_all_gpus": summarize_ns(slow),
        "gpu_names": [g.name for g in first.gpus],
    }


@contextlib.contextmanager
def sampler_of(nvml: Any, sampling: SamplingConfig, state_dir: Path) -> Iterator[Any]:
    """The collector's sampler wired as in production, not started: ticks are driven here."""
    config = CollectorConfig(
        sampling=sampling,
        accounting=AccountingConfig(db_path=str(state_dir / f"usage-{secrets.token_hex(4)}.db")),
    )
    service = build_service(config, nvml=nvml)
    try:
        yield service.sampler
    finally:
        service.stop()


def bench_sampler(nvml: Any, sizes: Sizes, state_dir: Path) -> dict[str, Any]:
    """A default tick (fast tier + attribution + listeners) and a full snapshot (every tier)."""
    with sampler_of(nvml, SamplingConfig(), state_dir) as sampler:
        sampler.tick()  # the first tick runs every tier; the ones timed below are fast ticks
        default_tick = time_calls(sampler.tick, sizes.ticks)
    every_tier = SamplingConfig(process_utilization_interval_s=1e-6, slow_interval_s=1e-6)
    with sampler_of(nvml, every_tier, state_dir) as sampler:
        full = time_calls(sampler.tick, sizes.full_snapshots)
        snapshot = sampler.tick()
    return {
        "default_tick": summarize_ns(default_tick),
        "full_snapshot": summarize_ns(full),
        "snapshot_json_bytes": len(snapshot.model_dump_json()),
        "driver_version": snapshot.driver_version,
        "cuda_version": snapshot.cuda_version,
        "nvml_version": snapshot.nvml_version,
    }


# -- other tools --------------------------------------------------------------------------------


def _run_checked(command: list[str]) -> str:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:3])} ... exited {completed.returncode}: "
            f"{completed.stderr.strip()[-500:]}"
        )
    return completed.stdout


def bench_nvidia_smi(sizes: Sizes) -> dict[str, Any]:
    query = None
    errors = []
    for candidate in SMI_GPU_QUERIES:
        try:
            _run_checked(["nvidia-smi", f"--query-gpu={candidate}", "--format=csv,noheader"])
        except RuntimeError as exc:
            errors.append(str(exc))
            continue
        query = candidate
        break
    if query is None:
        raise RuntimeError("no nvidia-smi --query-gpu field set works: " + " | ".join(errors))
    gpu_command = ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"]
    apps_command = [
        "nvidia-smi",
        f"--query-compute-apps={SMI_APPS_QUERY}",
        "--format=csv,noheader,nounits",
    ]
    return {
        "query_gpu_fields": query.count(",") + 1,
        "query_gpu": summarize_ns(time_calls(lambda: _run_checked(gpu_command), sizes.smi, 2)),
        "query_compute_apps": summarize_ns(
            time_calls(lambda: _run_checked(apps_command), sizes.smi, 2)
        ),
    }


def bench_gpustat(sizes: Sizes) -> dict[str, Any]:
    command = [sys.executable, "-m", "gpustat", "--json"]
    report = json.loads(_run_checked(command))
    return {
        "version": importlib.metadata.version("gpustat"),
        "gpus_seen": len(report.get("gpus", [])),
        "process_json": summarize_ns(time_calls(lambda: _run_checked(command), sizes.gpustat, 1)),
    }


def nvitop_worker(n: int) -> None:
    """Runs in its own process (`--nvitop-worker N`): nvitop's snapshot API, timed."""
    from nvitop import Device

    def snapshot_all() -> list[Any]:
        return [device.as_snapshot() for device in Device.all()]

    snapshots = snapshot_all()
    print(
        json.dumps(
            {
                "version": importlib.metadata.version("nvitop"),
                "gpus_seen": len(snapshots),
                "device_all": summarize_ns(time_calls(Device.all, max(n, 50), 2)),
                "device_all_as_snapshot": summarize_ns(time_calls(snapshot_all, n, 2)),
            }
        )
    )


def bench_nvitop(sizes: Sizes) -> dict[str, Any]:
    output = _run_checked(
        [sys.executable, str(Path(__file__).resolve()), "--nvitop-worker", str(sizes.nvitop)]
    )
    return json.loads(output.strip().splitlines()[-1])


def bench_api(collector: CollectorProcess, duration_s: float, state_dir: Path) -> dict[str, Any]:
    out = state_dir / "api.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "api_load.py"),
        collector.url,
        "-",
        "--rate",
        str(TARGETS["api_rate_per_s"]),
        "--duration-s",
        str(duration_s),
        "--pid",
        str(collector.pid),
        "--json-out",
        str(out),
    ]
    env = dict(os.environ, GPU_INSIGHT_TOKEN=collector.token)
    pin = _pin_api_cpus()
    completed = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=4 * duration_s + 60,
        preexec_fn=pin,
    )
    if not out.exists():
        raise RuntimeError(f"api_load wrote nothing: {completed.stderr[-2000:]}")
    report = json.loads(out.read_text())
    report["pinned_cpus"] = sorted(API_CPUS) if pin else None
    report["exit_code"] = completed.returncode
    return report


def _pin_api_cpus() -> Callable[[], None] | None:
    """Pins to two CPUs when the host has more, to match the 2-core target."""
    if (os.cpu_count() or 1) <= len(API_CPUS):
        return None
    return lambda: os.sched_setaffinity(0, API_CPUS)


# -- the load -----------------------------------------------------------------------------------


class Load:
    """bench/load/run_load.sh in busy mode: both generators busy as soon as they are loaded."""

    def __init__(self, duration_s: int, state_dir: Path) -> None:
        self.dir = state_dir / "load"
        env = dict(os.environ, LOAD_DIR=str(self.dir), LOAD_WARMUP_S="0")
        self.log_path = state_dir / "load.log"
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [str(ROOT / "bench" / "load" / "run_load.sh"), str(duration_s), "busy"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + LOAD_READY_TIMEOUT_S
        while not (self.dir / "ready").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"load not ready: {self.log_path.read_text()[-3000:]}")
            time.sleep(1)
        time.sleep(5)  # first busy slices and generate() rounds

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # run_load.sh stops its generators
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# -- the run ------------------------------------------------------------------------------------


class Sections:
    """Runs named sections; a failing one is recorded and reported, and the run goes on."""

    def __init__(self, on_change: Callable[[Sections], object]) -> None:
        self.results: dict[str, Any] = {}
        self.failed: list[str] = []
        self._on_change = on_change  # called after each section: partial results survive

    def run(self, name: str, body: Callable[[], Any]) -> Any:
        log(f"{name} ...")
        started = time.monotonic()
        try:
            value = body()
        except Exception as exc:
            traceback.print_exc()
            log(f"{name} FAILED: {exc}")
            self.failed.append(name)
            self.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            self._on_change(self)
            return None
        self.results[name] = value
        log(f"{name} done in {time.monotonic() - started:.1f} s")
        self._on_change(self)
        return value


def collector_section(sizes: Sizes, state_dir: Path, name: str, with_api: bool) -> dict:
    collector = CollectorProcess(state_dir, name, API_CPUS if _pin_api_cpus() else None)
    try:
        result: dict[str, Any] = {"cpu": collector.cpu_use(sizes.cpu_window_s)}
        if with_api:
            result["api"] = bench_api(collector, sizes.api_duration_s, state_dir)
        return result
    finally:
        collector.stop()


def run_all(sections: Sections, sizes: Sizes, nvml: Any = None) -> None:
    with tempfile.TemporaryDirectory(prefix="gpu-insight-bench-") as tmp:
        state_dir = Path(tmp)
        sections.run(
            "in_process_idle",
            lambda: {**bench_backend(nvml, sizes), **bench_sampler(nvml, sizes, state_dir)},
        )
        sections.run("nvidia_smi_idle", lambda: bench_nvidia_smi(sizes))
        sections.run("gpustat", lambda: bench_gpustat(sizes))
        sections.run("nvitop", lambda: bench_nvitop(sizes))
        sections.run(
            "collector_idle", lambda: collector_section(sizes, state_dir, "collector-idle", True)
        )
        load_s = int(sizes.cpu_window_s + 120)
        loads: list[Load] = []

        def start_load() -> dict[str, Any]:
            loads.append(Load(load_s, state_dir))
            return {"mode": "busy", "limit_s": load_s}

        try:
            sections.run("load_start", start_load)
            if loads:
                sections.run(
                    "in_process_busy",
                    lambda: {**bench_backend(nvml, sizes), **bench_sampler(nvml, sizes, state_dir)},
                )
                sections.run("nvidia_smi_busy", lambda: bench_nvidia_smi(sizes))
                sections.run(
                    "collector_busy",
                    lambda: collector_section(sizes, state_dir, "collector-busy", False),
                )
        finally:
            for load in loads:
                load.stop()
                sections.results["load_start"]["log_tail"] = load.log_path.read_text()[-1500:]


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def get(*keys: str) -> Any:
        value: Any = results
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def add(measure: str, value: Any, target: str, met: bool | None) -> None:
        rows.append({"measure": measure, "value": value, "target": target, "met": met})

    for phase in ("idle", "busy"):
        per_gpu = get(f"in_process_{phase}", "fast_tier_per_gpu", "median_us")
        limit = TARGETS["fast_tier_per_gpu_median_us_max"]
        add(
            f"fast-tier sample per GPU, median µs ({phase})",
            per_gpu,
            f"≤ {limit:g}",
            None if per_gpu is None else per_gpu <= limit,
        )
        fast = get(f"in_process_{phase}", "fast_tier_all_gpus", "median_us")
        smi = get(f"nvidia_smi_{phase}", "query_gpu", "median_us")
        ratio = round(smi / fast, 1) if fast and smi else None
        minimum = TARGETS["nvidia_smi_to_fast_tier_ratio_min"]
        add(
            f"nvidia-smi --query-gpu ÷ fast-tier sample ({phase})",
            ratio,
            f"≥ {minimum:g}×",
            None if ratio is None else ratio >= minimum,
        )
        cpu = get(f"collector_{phase}", "cpu", "cpu_percent_of_one_core")
        limit = TARGETS["collector_cpu_percent_of_one_core_max"]
        add(
            f"collector CPU, % of one core ({phase})",
            cpu,
            f"≤ {limit:g} %",
            None if cpu is None else cpu <= limit,
        )
    for result in get("collector_idle", "api", "results") or []:
        p99 = result["latency_ms"].get("p99")
        limit = TARGETS["api_p99_ms_max"]
        met = None if p99 is None else (p99 <= limit and result["failed"] == 0)
        add(f"{result['path']} p99 ms at {result['rate_per_s']:g}/s", p99, f"≤ {limit:g}", met)
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"## Collector benchmark {report['date']} — {report['host'].get('gpu') or '?'}",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
    ]
    for row in report["verdicts"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[row["met"]]
        lines.append(f"| {row['measure']} | {row['value']} | {row['target']} | {met} |")
    lines += ["", "| call | median | p99 |", "|---|---|---|"]
    results = report["results"]
    for section, key, label in (
        ("in_process_idle", "fast_tier_all_gpus", "fast tier, all GPUs (idle)"),
        ("in_process_idle", "process_utilization_tier_all_gpus", "process-utilization tier"),
        ("in_process_idle", "slow_tier_all_gpus", "slow tier (energy, ECC)"),
        ("in_process_idle", "default_tick", "sampler tick, default cadence"),
        ("in_process_idle", "full_snapshot", "full snapshot (every tier)"),
        ("in_process_busy", "full_snapshot", "full snapshot, busy"),
        ("nvidia_smi_idle", "query_gpu", "nvidia-smi --query-gpu (subprocess)"),
        ("nvidia_smi_idle", "query_compute_apps", "nvidia-smi --query-compute-apps"),
        ("gpustat", "process_json", "gpustat --json (process)"),
        ("nvitop", "device_all_as_snapshot", "nvitop Device.all() + as_snapshot()"),
    ):
        stats = results.get(section, {}).get(key)
        if stats:
            lines.append(f"| {label} | {_us(stats['median_us'])} | {_us(stats['p99_us'])} |")
    api = results.get("collector_idle", {}).get("api")
    if api:
        lines += ["", f"API load (pinned CPUs {api.get('pinned_cpus')}):", ""]
        lines += [
            f"- {r['path']}: p50 {r['latency_ms'].get('p50')} ms, p99 "
            f"{r['latency_ms'].get('p99')} ms, {r['ok']}/{r['requests']} ok, collector CPU "
            f"{r['target_cpu_percent']} %"
            for r in api["results"]
        ]
    if report["failed_sections"]:
        lines += ["", f"FAILED sections: {', '.join(report['failed_sections'])}"]
    return "\n".join(lines)


def _us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.1f} µs"


def host_info(results: dict[str, Any]) -> dict[str, Any]:
    idle = results.get("in_process_idle", {})
    names = idle.get("gpu_names") or []
    packages: dict[str, str | None] = {}
    for name in (
        "nvidia-ml-py",
        "pydantic",
        "fastapi",
        "uvicorn",
        "prometheus-client",
        "gpustat",
        "nvitop",
        "torch",
    ):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "gpu": names[0] if names else None,
        "gpus": names,
        "driver_version": idle.get("driver_version"),
        "cuda_version": idle.get("cuda_version"),
        "nvml_version": idle.get("nvml_version"),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
    }


def gpu_slug(name: str | None) -> str:
    """'NVIDIA H100 80GB HBM3' → 'h100'; 'NVIDIA GeForce RTX 4090' → '4090'."""
    match = re.search(r"\b([A-Z]{0,3}\d{1,4}[A-Z]?)\b", name or "")
    return match.group(1).lower() if match else "gpu"


class ReportWriter:
    """Rewrites the result file after every section, so that a run cut short leaves its data."""

    def __init__(self, out: Path | None, quick: bool) -> None:
        self._out = out
        self._quick = quick
        self._started = time.monotonic()
        self.report: dict[str, Any] = {}

    def __call__(self, sections: Sections, complete: bool = False) -> Path:
        host = host_info(sections.results)
        self.report = {
            "date": datetime.date.today().isoformat(),
            "complete": complete,
            "quick": self._quick,
            "host": host,
            "targets": TARGETS,
            "verdicts": verdicts(sections.results),
            "failed_sections": sections.failed,
            "results": sections.results,
            "total_s": round(time.monotonic() - self._started, 1),
        }
        if self._out is None:  # named once the GPU is known (after the first section)
            self._out = (
                ROOT
                / "bench"
                / "results"
                / (f"collector-{self.report['date']}-{gpu_slug(host['gpu'])}.json")
            )
        self._out.parent.mkdir(parents=True, exist_ok=True)
        self._out.write_text(json.dumps(self.report, indent=1, ensure_ascii=False) + "\n")
        return self._out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="result file (default bench/results/collector-<date>-<gpu>.json)",
    )
    parser.add_argument("--quick", action="store_true", help="few iterations, short windows")
    parser.add_argument("--nvitop-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nvitop_worker is not None:
        nvitop_worker(args.nvitop_worker)
        return 0
    # A time limit's SIGTERM unwinds like Ctrl-C: collectors and load are stopped on the way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    writer = ReportWriter(args.out, args.quick)
    sections = Sections(writer)
    run_all(sections, QUICK if args.quick else FULL)
    out = writer(sections, complete=True)
    print(markdown(writer.report))
    log(f"wrote {out} in {writer.report['total_s']} s")
    return 1 if sections.failed else 0


if __name__ == "__main__":
    sys.exit(main())
