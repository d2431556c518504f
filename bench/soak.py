"""Soak: the collector at full history under mixed load for a long time, then its knee.

    python3 bench/soak.py [--duration-s 3600] [--rate 500] [--window-s 60]
        [--client-cpu 0] [--collector-cpu 1] [--knee-step-s 30] [--json-out FILE]

Starts the collector replaying the recorded H100 trace with its history already full
(`replay_fills_history`), pinned to one CPU, and loads it from this process, pinned to another:
`/v1/snapshot`, `/metrics`, `/v1/history` and `/healthz` in turn (25 % each), open loop at
`--rate` (request i is due at start + i/rate whatever happened before, over keep-alive
connections; latency counts from the due time, so a server or client falling behind shows).

Per window (a minute by default): p50/p99/max in all and per path, answers by status (503 is a
request shed), and the collector's RSS and CPU. Then the knee: steps of `--knee-step-s` at
rates rising by half each time (falling, if the first step fails), bisected between the last
step that held and the first that did not, to within 5 %; a step holds while p99 ≤ 50 ms and
at least 99 % of requests answer 200.
Exits 1 when the soak misses a target: p99 ≤ 10 ms in every window and RSS growth ≤ 5 MiB from
the first window to the last. Bounded: at most rate × duration requests per run, rates up to
5,000/s, durations up to 2 hours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from api_load import REQUEST_ERRORS, Connection, percentile, process_cpu_seconds
from collector_process import ROOT, CollectorProcess, rss_bytes

PATHS = ("/v1/snapshot", "/metrics", "/v1/history", "/healthz")
TRACE = ROOT / "gpu_insight" / "collector" / "traces" / "h100-replay.jsonl"
TARGETS = {"p99_ms_max": 10.0, "rss_growth_mib_max": 5.0}
KNEE_P99_MS = 50.0
KNEE_OK_RATIO_MIN = 0.99
KNEE_GROWTH = 1.5
KNEE_PRECISION = 0.05
MAX_RATE = 5000.0
MIN_KNEE_RATE = 20.0
MAX_DURATION_S = 7200.0
WARMUP_S = 10.0
CONCURRENCY = 192  # connections: more than the default in-flight bound (128), fewer than 256
TIMEOUT_S = 10.0
FULL_HISTORY_POINTS = 900  # the default window of /v1/history at 1 s: what a full fine tier holds
STARTUP_GAP_POINTS = 10  # the seconds between filling the history and the first live sample


@dataclass
class Window:
    """What happened to the requests due in one window, and the collector at its end."""

    start_s: float  # from the start of the run
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # "all" and per path
    send_lag_p99_ms: float | None = None
    collector_rss_mib: float | None = None
    collector_cpu_percent: float | None = None  # of one core


class Recorder:
    """Latencies of 200 answers per window and path, as compact arrays of seconds."""

    def __init__(self, windows: int) -> None:
        self.ok = [{path: array("d") for path in PATHS} for _ in range(windows)]
        self.lags = [array("d") for _ in range(windows)]
        self.windows = [Window(start_s=0.0) for _ in range(windows)]

    def record(self, window: int, path: str, status: str, latency_s: float, lag_s: float) -> None:
        summary = self.windows[window]
        summary.requests += 1
        summary.statuses[status] = summary.statuses.get(status, 0) + 1
        self.lags[window].append(lag_s)
        if status == "200":
            self.ok[window][path].append(latency_s)

    def summarise(self, window_s: float) -> list[Window]:
        for n, summary in enumerate(self.windows):
            summary.start_s = n * window_s
            every = sorted(x for values in self.ok[n].values() for x in values)
            summary.latency_ms = {"all": _summary_ms(every)} | {
                path: _summary_ms(sorted(values)) for path, values in self.ok[n].items()
            }
            lags = sorted(self.lags[n])
            summary.send_lag_p99_ms = round(percentile(lags, 0.99) * 1000, 3) if lags else None
        return self.windows


def _summary_ms(ordered: list[float]) -> dict[str, float]:
    if not ordered:
        return {}
    return {
        "p50": round(percentile(ordered, 0.50) * 1000, 3),
        "p99": round(percentile(ordered, 0.99) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
    }


async def mixed_load(
    collector: CollectorProcess, rate: float, duration_s: float, window_s: float
) -> list[Window]:
    """`rate` requests/s for `duration_s`, the four paths in turn; one `Window` per window."""
    parts = urlsplit(collector.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = {
        path: (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {collector.token}\r\nAccept: */*\r\n\r\n"
        ).encode()
        for path in PATHS
    }
    windows = max(1, round(duration_s / window_s))
    recorder = Recorder(windows)
    total = int(rate * duration_s)
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()

    async def worker(connection: Connection) -> None:
        while (item := await queue.get()) is not None:
            due, path = item
            lag_s = time.perf_counter() - due
            try:
                status, _ = await connection.get(requests[path])
            except REQUEST_ERRORS as exc:
                key = type(exc).__name__
            else:
                key = str(status)
            window = min(int((due - start) / window_s), windows - 1)
            recorder.record(window, path, key, time.perf_counter() - due, lag_s)

    async def watch_collector() -> None:
        """The collector's RSS and CPU at the end of each window."""
        cpu_before = process_cpu_seconds(collector.pid)
        for n in range(windows):
            await asyncio.sleep(max(0.0, start + (n + 1) * window_s - time.perf_counter()))
            cpu_now = process_cpu_seconds(collector.pid)
            summary = recorder.windows[n]
            summary.collector_rss_mib = round(rss_bytes(collector.pid) / 2**20, 2)
            summary.collector_cpu_percent = round(100 * (cpu_now - cpu_before) / window_s, 1)
            cpu_before = cpu_now

    connections = [Connection(host, port, TIMEOUT_S) for _ in range(CONCURRENCY)]
    workers = [asyncio.create_task(worker(c)) for c in connections]
    start = time.perf_counter()
    watcher = asyncio.create_task(watch_collector())
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, PATHS[index % len(PATHS)]))
    for _ in workers:
        queue.put_nowait(None)
    try:
        await asyncio.wait_for(asyncio.gather(*workers, watcher), TIMEOUT_S + window_s + 5)
    except TimeoutError:
        for task in [*workers, watcher]:
            task.cancel()
    for connection in connections:
        connection.close()
    return recorder.summarise(window_s)


def run_load(
    collector: CollectorProcess, rate: float, duration_s: float, window_s: float
) -> list[Window]:
    return asyncio.run(mixed_load(collector, rate, duration_s, window_s))


def holds(window: Window) -> bool:
    """A knee step holds while p99 ≤ 50 ms and at least 99 % of its requests answer 200."""
    p99 = window.latency_ms["all"].get("p99")
    ok = window.statuses.get("200", 0)
    return p99 is not None and p99 <= KNEE_P99_MS and ok >= KNEE_OK_RATIO_MIN * window.requests


def find_knee(collector: CollectorProcess, start_rate: float, step_s: float) -> dict:
    """Rates rising from `start_rate` until a step does not hold (or falling until one does,
    when the first does not), then bisection between the last two."""
    steps: list[dict] = []

    def step(rate: float) -> bool:
        (window,) = run_load(collector, rate, step_s, step_s)
        steps.append({"rate_per_s": round(rate, 1), "holds": holds(window), **asdict(window)})
        print(_step_line(rate, window), flush=True)
        return holds(window)

    held, failed = 0.0, None
    rate = start_rate
    while rate <= MAX_RATE:
        if not step(rate):
            failed = rate
            break
        held, rate = rate, rate * KNEE_GROWTH
    rate = start_rate / KNEE_GROWTH
    while not held and rate >= MIN_KNEE_RATE:
        if step(rate):
            held = rate
        else:
            failed, rate = rate, rate / KNEE_GROWTH
    while failed is not None and held and (failed - held) / held > KNEE_PRECISION:
        middle = (held + failed) / 2
        if step(middle):
            held = middle
        else:
            failed = middle
    return {
        "criterion": f"p99 <= {KNEE_P99_MS:g} ms and >= {KNEE_OK_RATIO_MIN:.0%} answered 200",
        "last_rate_that_held_per_s": round(held, 1) if held else None,
        "first_rate_that_failed_per_s": round(failed, 1) if failed else None,
        "steps": steps,
    }


def _step_line(rate: float, window: Window) -> str:
    latency = window.latency_ms["all"]
    return (
        f"knee step {rate:7.1f}/s: p99 {latency.get('p99')} ms, statuses {window.statuses}, "
        f"collector CPU {window.collector_cpu_percent} %"
    )


def check_history_full(collector: CollectorProcess) -> int:
    """Points per GPU in the default /v1/history window: a full history before the load."""
    request = urllib.request.Request(
        collector.url + "/v1/history", headers={"Authorization": f"Bearer {collector.token}"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        history = json.load(response)
    points = min(len(gpu["points"]) for gpu in history["gpus"])
    if points < FULL_HISTORY_POINTS - STARTUP_GAP_POINTS:
        raise RuntimeError(f"history holds {points} points, not a full {FULL_HISTORY_POINTS}")
    return points


def verdicts(windows: list[Window]) -> dict[str, dict]:
    worst_p99 = max(w.latency_ms["all"].get("p99", float("inf")) for w in windows)
    rss = [w.collector_rss_mib for w in windows if w.collector_rss_mib is not None]
    growth = round(rss[-1] - rss[0], 2) if len(rss) > 1 else 0.0
    return {
        "p99_every_window": {
            "worst_ms": worst_p99,
            "target_ms_max": TARGETS["p99_ms_max"],
            "met": worst_p99 <= TARGETS["p99_ms_max"],
        },
        "rss_growth": {
            "first_to_last_window_mib": growth,
            "target_mib_max": TARGETS["rss_growth_mib_max"],
            "met": growth <= TARGETS["rss_growth_mib_max"],
        },
    }


def markdown(windows: list[Window]) -> str:
    rows = [
        "| minute | requests | 200 | 503 | p50 ms | p99 ms | max ms | /healthz p99 ms "
        "| /v1/history p99 ms | RSS MiB | CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, w in enumerate(windows):
        every = w.latency_ms["all"]
        rows.append(
            f"| {n + 1} | {w.requests} | {w.statuses.get('200', 0)} | {w.statuses.get('503', 0)} "
            f"| {every.get('p50')} | {every.get('p99')} | {every.get('max')} "
            f"| {w.latency_ms['/healthz'].get('p99')} | {w.latency_ms['/v1/history'].get('p99')} "
            f"| {w.collector_rss_mib} | {w.collector_cpu_percent} |"
        )
    return "\n".join(rows)


def scheduling() -> dict[str, object]:
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    policy = os.sched_getscheduler(0)
    priority = os.sched_getparam(0).sched_priority
    return {"policy": names.get(policy, str(policy)), "priority": priority}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=3600.0, help="soak length (60..7200)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (1..5000)")
    parser.add_argument("--window-s", type=float, default=60.0, help="summary window")
    parser.add_argument("--client-cpu", type=int, default=0, help="CPU this load client runs on")
    parser.add_argument("--collector-cpu", type=int, default=1, help="CPU the collector runs on")
    parser.add_argument("--knee-step-s", type=float, default=30.0, help="0: no knee search")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.rate <= MAX_RATE:
        parser.error(f"--rate must be in 1..{MAX_RATE:g}, got {args.rate:g}")
    if not 60 <= args.duration_s <= MAX_DURATION_S:
        parser.error(f"--duration-s must be in 60..{MAX_DURATION_S:g}, got {args.duration_s:g}")
    if not 10 <= args.window_s <= args.duration_s:
        parser.error("--window-s must be at least 10 and at most --duration-s")
    if not (args.knee_step_s == 0 or 5 <= args.knee_step_s <= 120):
        parser.error("--knee-step-s must be 0 or in 5..120")
    cpus = os.sched_getaffinity(0)
    if {args.client_cpu, args.collector_cpu} - cpus or args.client_cpu == args.collector_cpu:
        parser.error(f"--client-cpu and --collector-cpu must be two of the CPUs {sorted(cpus)}")
    os.sched_setaffinity(0, {args.client_cpu})

    load_at_start = round(os.getloadavg()[0], 2)
    settings = {"replay": str(TRACE), "replay_fills_history": True}
    with tempfile.TemporaryDirectory(prefix="gpu-insight-soak-") as state:
        collector = CollectorProcess(Path(state), "soak", {args.collector_cpu}, settings)
        try:
            points = check_history_full(collector)
            run_load(collector, args.rate, WARMUP_S, WARMUP_S)
            started = time.time()
            windows = run_load(collector, args.rate, args.duration_s, args.window_s)
            print(markdown(windows), flush=True)
            knee = find_knee(collector, args.rate, args.knee_step_s) if args.knee_step_s else None
        finally:
            collector.stop()
    report = {
        "command": " ".join(["python3", "bench/soak.py", *(argv or sys.argv[1:])]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or None,
            # other work on the machine takes CPU from both sides: judge the numbers by it
            "load_average_1min_at_start_and_end": [load_at_start, round(os.getloadavg()[0], 2)],
        },
        "python": platform.python_version(),
        "pinning": {"client_cpu": args.client_cpu, "collector_cpu": args.collector_cpu},
        # a real-time policy (`chrt -f N`, inherited by the collector) shields a run on a shared
        # machine from the other work there: say which one the numbers were taken under
        "scheduling": scheduling(),
        "rate_per_s": args.rate,
        "duration_s": args.duration_s,
        "window_s": args.window_s,
        "paths": list(PATHS),
        "history_points_at_start": points,
        "windows": [asdict(w) for w in windows],
        "verdicts": verdicts(windows),
        "knee": knee,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1) + "\n")
    for name, verdict in report["verdicts"].items():
        print(f"{name}: {'met' if verdict['met'] else 'MISSED'} {verdict}")
    if knee:
        print(
            f"knee: held at {knee['last_rate_that_held_per_s']}/s, "
            f"failed at {knee['first_rate_that_failed_per_s']}/s ({knee['criterion']})"
        )
    return 0 if all(v["met"] for v in report["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
