"""Prometheus mode at fleet scale, beside the direct mode: tool latency through the plugin runtime.

    PYTHONPATH=.:bench python bench/prometheus_fleet.py [--calls 30] [--hosts 10,125]
        [--without-usage-rules] [--json-out FILE]

A real Prometheus (Debian's package) holds 1,000 GPUs' series: 125 hosts × 8 GPUs, each host
exposing exactly what a GPU Insight collector exposes (the collector's own `/metrics` code over a
synthetic 8-GPU snapshot; 7 GPUs serve an app through vLLM, one idles). The usage counters carry
24.5 h of 30 s samples, backfilled with `promtool tsdb create-blocks-from openmetrics` in 2 h
chunks, and so does their copy every 5 minutes that the shipped usage recording rules keep
(`deploy/prometheus/gpu-insight-usage-rules.yaml`, loaded, so that it goes on; without it with
`--without-usage-rules`); from then on Prometheus scrapes the 125 hosts every 30 s, and the
calls wait until it has compacted the backfilled blocks (as one that has run for a day has).
Through the plugin's stdio runtime (`python -m main`, as the plugin daemon runs it),
`gpu_status`, `vram_check` (placement over all GPUs) and `gpu_usage_report` (24 h, by team) are
called `--calls` times each; Prometheus' query log gives the PromQL each call sent and its
evaluation time. Then the direct mode: the same calls against 10 replay collectors (1 GPU
each) listed in `collector_url`. `--hosts` picks the Prometheus fleet sizes (default 10 and 125
hosts: 80 and 1,000 GPUs).

Bounded: the backfill writes about 3,000 series × 2,880 samples (and 3,000 × 288 of the copy);
every wait has a timeout; the
whole run (both sizes and the direct mode) takes about ten minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from api_load import percentile
from prometheus_client.exposition import generate_latest

from gpu_insight.collector.metrics import metrics_registry
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.collector.usage_metrics import usage_families, usage_metrics
from gpu_insight.collector.usage_split import UsageKey
from gpu_insight.collector.usage_totals import UsageTotal
from gpu_insight.schemas import Attribution, EngineMetrics, Gpu, GpuProcess, Snapshot
from gpu_insight.sources.prometheus import our_series
from tests.collector.api_support import TabledUsage, make_runtime, publish
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime
from tests.support.prometheus_server import PrometheusServer

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "gpu_insight" / "collector" / "traces" / "h100-replay.jsonl"
USAGE_RULES = ROOT / "deploy" / "prometheus" / "gpu-insight-usage-rules.yaml"
RULES_STEP_S = 300  # the usage rules' interval: their copy's samples
HOSTS, GPUS_PER_HOST = 125, 8
SERVING_GPUS = 7  # per host; the last GPU idles
APPS, TEAMS = 40, 12
STEP_S = 30
HISTORY_S = 86_400
# The backfill reaches this much further back than the day the reports ask for, as a Prometheus
# that has run for more than a day does: the usage rules' copy, every 5 minutes, then has a
# sample before the window's start, which a report asks for before it reads the copy.
BACKFILL_MARGIN_S = 1_800
CHUNK_S = 7_200  # promtool's block length: one backfill file per block
UPTIME_BEFORE_WINDOW_S = 3_600  # the collectors started an hour before the window
H100_MIB = 81559.0
DIRECT_COLLECTORS = 10
SMALL_HOSTS = 10  # a Prometheus fleet of 80 GPUs, beside the 1,000
READY_TIMEOUT_S = 120.0
COMPACTION_TIMEOUT_S = 300.0
SETTLED_S = 15.0  # Prometheus' compaction state unchanged this long: done
COMPACTION_METRICS = (
    "prometheus_tsdb_compactions_triggered_total",
    "prometheus_tsdb_compactions_total",
    "prometheus_tsdb_blocks_loaded",
)
CALLS: dict[str, dict[str, Any]] = {
    "gpu_status": {},
    "vram_check": {"model": "meta-llama/Llama-3.1-8B-Instruct"},
    "gpu_usage_report": {"window": "24h", "group_by": "team"},
}


def host_name(host: int) -> str:
    return f"gpu-host-{host:03d}"


def instance(host: int) -> str:
    return f"{host_name(host)}:9470"


def gpu_uuid(host: int, gpu: int) -> str:
    return f"GPU-{host:08x}-{gpu:04x}-4000-8000-{host * GPUS_PER_HOST + gpu:012x}"


@dataclasses.dataclass(frozen=True)
class Workload:
    """What runs on one GPU, and how fast its usage counters rise."""

    key: UsageKey
    busy_ratio: float  # GPU-seconds per second
    memory_mib: float
    power_watts: float


def workloads(host: int) -> list[Workload]:
    loads = []
    for gpu in range(GPUS_PER_HOST):
        uuid, n = gpu_uuid(host, gpu), host * GPUS_PER_HOST + gpu
        if gpu >= SERVING_GPUS:
            loads.append(Workload(UsageKey(uuid), 0.0, 0.0, 70.0))
            continue
        app = n % APPS
        busy = 0.3 + 0.6 * (n % 7) / 6
        key = UsageKey(
            uuid,
            app=f"app-{app:02d}",
            team=f"team-{app % TEAMS:02d}",
            container=f"vllm-{host:03d}-{gpu}",
            model="meta-llama/Llama-3.1-8B-Instruct",
        )
        loads.append(Workload(key, busy, 20_000.0 + 7_000.0 * (n % 8), 150.0 + 500.0 * busy))
    return loads


def host_snapshot(host: int, now: float) -> Snapshot:
    gpus, processes, engines = [], [], []
    for gpu, load in enumerate(workloads(host)):
        used = load.memory_mib + (512.0 if load.memory_mib else 0.0)
        gpus.append(
            Gpu(
                index=gpu,
                uuid=load.key.gpu_uuid,
                name="NVIDIA H100 80GB HBM3",
                pci_bus_id=f"00000000:{0x18 + gpu * 0x11:02X}:00.0",
                compute_capability="9.0",
                memory_total_mib=H100_MIB,
                memory_used_mib=used,
                memory_free_mib=H100_MIB - used - 480.0,
                memory_reserved_mib=480.0,
                utilization_percent=100 * load.busy_ratio,
                memory_activity_percent=40 * load.busy_ratio,
                temperature_celsius=35.0 + 40 * load.busy_ratio,
                temperature_slowdown_celsius=87.0,
                temperature_shutdown_celsius=92.0,
                power_watts=load.power_watts,
                power_limit_watts=700.0,
                sm_clock_mhz=1980.0,
                sm_clock_max_mhz=1980.0,
                memory_clock_mhz=2619.0,
                memory_clock_max_mhz=2619.0,
                ecc_uncorrected_volatile=0,
                xid_errors=0,
                energy_joules=1e9 + host * 1e6,
            )
        )
        if load.key.app is None:
            continue
        port = 8000 + gpu
        who = Attribution(
            container_name=load.key.container,
            engine="vllm",
            model=load.key.model,
            port=port,
            app=load.key.app,
            team=load.key.team,
        )
        processes.append(
            GpuProcess(
                pid=10_000 + gpu,
                gpu_index=gpu,
                gpu_uuid=load.key.gpu_uuid,
                name="python3",
                used_memory_mib=load.memory_mib,
                sm_utilization_percent=100 * load.busy_ratio,
                attribution=who,
            )
        )
        engines.append(
            EngineMetrics(
                engine="vllm",
                model=load.key.model,
                url=f"http://127.0.0.1:{port}/metrics",
                app=load.key.app,
                team=load.key.team,
                up=True,
                requests_running=4.0,
                requests_waiting=float(gpu % 3),
                kv_cache_usage_ratio=0.2 + 0.1 * gpu,
                requests_per_s=3.5,
                prompt_tokens_per_s=900.0,
                generation_tokens_per_s=400.0,
                preemptions_total=0.0,
            )
        )
    return Snapshot(
        host=host_name(host),
        source="nvml",
        collected_at=now,
        driver_version="580.159.04",
        gpus=gpus,
        processes=processes,
        engines=engines,
    )


class GrowingUsage(TabledUsage):
    """The usage books of one host as /metrics shows them: counters rising at each workload's
    rate since the collector started."""

    def __init__(self, host: int, started_at: float) -> None:
        super().__init__({})
        self._loads = workloads(host)
        self._started_at = started_at

    def totals(self) -> list[UsageTotal]:
        return totals_at(self._loads, time.time() - self._started_at)


def totals_at(loads: list[Workload], uptime_s: float) -> list[UsageTotal]:
    return [
        UsageTotal(
            w.key, w.busy_ratio * uptime_s, w.memory_mib * uptime_s, w.power_watts * uptime_s
        )
        for w in loads
    ]


def host_runtimes(hosts: int, started_at: float) -> list[CollectorRuntime]:
    runtimes = []
    for host in range(hosts):
        runtime = dataclasses.replace(
            make_runtime(), hostname=host_name(host), usage=GrowingUsage(host, started_at)
        )
        publish(runtime, host_snapshot(host, time.time()))
        runtimes.append(runtime)
    return runtimes


class FleetExporter:
    """One loopback server answering `/hosts/<n>/metrics` with host n's exposition, rendered
    by the collector's own registry at each scrape (its sample time is the scrape's)."""

    def __init__(self, runtimes: list[CollectorRuntime]) -> None:
        registries = [metrics_registry(r) for r in runtimes]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.split("/")
                host = int(parts[2]) if len(parts) == 4 and parts[2].isdecimal() else -1
                if not 0 <= host < len(registries):
                    self.send_error(404)
                    return
                runtimes[host].self_metrics.record_sample(time.time(), 0.002)
                body = generate_latest(registries[host])
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # a scrape that timed out meanwhile
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FleetExporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def backfill(
    hosts: int, folder: Path, data: Path, started_at: float, end: float, copies: bool
) -> dict[str, Any]:
    """24.5 h of the usage counters at 30 s (and with `copies`, the rules' copy at 5 minutes),
    one OpenMetrics file (and promtool run) per 2 h block; the next file is written while
    promtool reads the last one."""
    loads = [(host, load) for host in range(hosts) for load in workloads(host)]
    first = end - HISTORY_S - BACKFILL_MARGIN_S
    chunks = [
        (max(first, start), min(end, start + CHUNK_S - STEP_S))
        for start in range(int(first // CHUNK_S * CHUNK_S), int(end) + 1, CHUNK_S)
    ]
    began, samples = time.monotonic(), 0
    with ThreadPoolExecutor(max_workers=1) as promtool:
        running = None
        for n, (start, stop) in enumerate(chunks):
            path = folder / f"usage-{n:02d}.om"
            samples += write_chunk(path, loads, started_at, start, stop, copies)
            if running is not None:
                running.result()
            running = promtool.submit(to_blocks, path, data)
        if running is not None:
            running.result()
    return {
        "series": (6 if copies else 3) * len(loads),
        "samples": samples,
        "step_s": STEP_S,
        "hours": (HISTORY_S + BACKFILL_MARGIN_S) / 3600,
        "blocks": len(chunks),
        "wall_s": round(time.monotonic() - began, 1),
    }


def write_chunk(
    path: Path,
    loads: list[tuple[int, Workload]],
    started_at: float,
    start: float,
    stop: float,
    copies: bool,
) -> int:
    """The counters at every 30 s from `start` to `stop`, labelled as the collector labels
    them (its own code renders one second of each) plus the target's labels; with `copies`,
    what the usage rules record of them at every 5 minutes, under their names."""
    times = [start + STEP_S * k for k in range(int((stop - start) // STEP_S) + 1)]
    copied = [t for t in times if t % RULES_STEP_S == 0]
    count = 0
    with path.open("w") as out:
        for n, family in enumerate(usage_families()):
            names = [(family.name, "counter", "_total", times)]
            if copies:
                copy = our_series.RECORDED_USAGE_COUNTERS[family.name + "_total"]
                names.append((copy, "unknown", "", copied))  # rule output has no type
            for name, kind, suffix, at in names:
                out.write(f"# TYPE {name} {kind}\n")
                for host, load in loads:
                    one_second = list(usage_metrics(totals_at([load], 1.0)))[n]
                    [sample] = one_second.samples
                    labels = {**sample.labels, "instance": instance(host), "job": "gpu-insight"}
                    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
                    out.write(
                        "".join(
                            f"{name}{suffix}{{{text}}} {sample.value * (t - started_at):.3f} "
                            f"{t:.0f}\n"
                            for t in at
                        )
                    )
                    count += len(at)
        out.write("# EOF\n")
    return count


def to_blocks(path: Path, data: Path) -> None:
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(data)],
        check=True,
        timeout=600,
    )
    path.unlink()


def prometheus_config(
    hosts: int, exporter_port: int, query_log: Path, usage_rules: bool
) -> dict[str, Any]:
    return {
        "rule_files": [str(USAGE_RULES)] if usage_rules else [],
        "global": {
            "scrape_interval": f"{STEP_S}s",
            "scrape_timeout": "10s",
            "query_log_file": str(query_log),
        },
        "scrape_configs": [
            {
                "job_name": "gpu-insight",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{exporter_port}"],
                        "labels": {
                            "instance": instance(h),
                            "__metrics_path__": f"/hosts/{h}/metrics",
                        },
                    }
                    for h in range(hosts)
                ],
            }
        ],
    }


def cpu_s(pid: int) -> float:
    """The user and system CPU seconds a process has used so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_calls(
    runtime: PluginRuntime,
    credentials: dict[str, Any],
    calls: int,
    log: Path | None,
    prometheus_pid: int | None = None,
) -> dict[str, Any]:
    """Each tool `calls` times after two warm-up calls: latency (of every call, failed ones
    too), answer size, failures with their sentences, the PromQL sent, the machine's load, and
    the CPU time per call of the plugin and of Prometheus (which a loaded machine stretches
    less than it stretches latency)."""
    results = {}
    for tool, params in CALLS.items():
        for _ in range(2):
            runtime.invoke_tool(tool, params, credentials)
        logged_from = log.stat().st_size if log is not None else 0
        latencies, sizes, errors = [], [], []
        load_before = os.getloadavg()[0]
        pids = {"plugin": runtime.pid, "prometheus": prometheus_pid}
        cpu_before = {who: cpu_s(pid) for who, pid in pids.items() if pid is not None}
        for _ in range(calls):
            started = time.perf_counter()
            result = runtime.invoke_tool(tool, params, credentials)
            latencies.append(time.perf_counter() - started)
            if result.error is not None:
                errors.append(result.error)
            else:
                sizes.append(len(json.dumps(result.jsons[0])))
                summary = result.text
                usage_series = result.jsons[0].get("usage_series")
        latencies.sort()
        results[tool] = {
            "params": params,
            "calls": calls,
            "failed": len(errors),
            "errors": sorted(set(errors))[:3],
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            **{
                f"{who}_cpu_ms_per_call": round(1000 * (cpu_s(pids[who] or 0) - used) / calls, 1)
                for who, used in cpu_before.items()
            },
            "p50_ms": round(1000 * percentile(latencies, 0.50), 1),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
            "max_ms": round(1000 * latencies[-1], 1),
            "answer_json_bytes": statistics.median(sizes) if sizes else None,
            "summary": summary[:300] if sizes else None,
        }
        if sizes and usage_series is not None:
            results[tool]["usage_series"] = usage_series
        if log is not None:
            results[tool]["promql"] = logged_queries(log, logged_from, calls)
    return results


def logged_queries(log: Path, offset: int, calls: int) -> dict[str, Any]:
    """The queries Prometheus ran since `offset` of its query log, per call."""
    with log.open("rb") as lines:
        lines.seek(offset)
        entries = [json.loads(line) for line in lines if line.strip()]
    by_query: dict[str, list[float]] = {}
    for entry in entries:
        timings = entry.get("stats", {}).get("timings", {})
        by_query.setdefault(entry["params"]["query"], []).append(timings.get("evalTotalTime", 0.0))
    return {
        "per_call": len(entries) / calls,
        "queries": [
            {"query": q, "runs": len(t), "eval_median_ms": round(1000 * statistics.median(t), 1)}
            for q, t in by_query.items()
        ],
    }


def compaction_state(server: PrometheusServer) -> tuple[float, ...]:
    """Prometheus' own counts of compaction cycles begun, compactions done and blocks loaded."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    lines = (line.split(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    values = {name: value for name, value in lines}
    return tuple(float(values.get(name, 0.0)) for name in COMPACTION_METRICS)


def wait_for_compaction(server: PrometheusServer, data: Path) -> float:
    """Prometheus merges the backfilled two-hour blocks in its first compaction cycle, a
    minute after it starts, which takes it a while; a Prometheus that has run for a day did so
    long ago, so the measured calls wait for it. The seconds waited."""
    began, last = time.monotonic(), None
    while time.monotonic() - began < COMPACTION_TIMEOUT_S:
        triggered, done, blocks = compaction_state(server)
        writing = any(".tmp" in path.name for path in data.iterdir())
        if triggered >= 1 and not writing and (done, blocks) == last:
            return round(time.monotonic() - began, 1)
        last = None if writing else (done, blocks)
        time.sleep(SETTLED_S)
    raise TimeoutError(f"Prometheus still compacts after {COMPACTION_TIMEOUT_S:.0f} s")


def series_count(server: PrometheusServer) -> int:
    return int(server.get("/api/v1/status/tsdb")["data"]["headStats"]["numSeries"])


def prometheus_mode(hosts: int, calls: int, work: Path, usage_rules: bool) -> dict[str, Any]:
    end = math.floor(time.time() / STEP_S) * STEP_S - STEP_S
    started_at = end - HISTORY_S - UPTIME_BEFORE_WINDOW_S
    data = work / "server" / "data"
    data.mkdir(parents=True)
    print("backfilling 24.5 h of usage counters ...", flush=True)
    filled = backfill(hosts, work, data, started_at, end, usage_rules)
    print(f"  {filled['samples']:,} samples in {filled['wall_s']} s", flush=True)
    query_log = work / "queries.log"
    with FleetExporter(host_runtimes(hosts, started_at)) as exporter:
        config = prometheus_config(hosts, exporter.port, query_log, usage_rules)
        with PrometheusServer(config, work / "server") as server:
            print(f"waiting for {hosts} targets ...", flush=True)
            server.wait_for(
                lambda: len(server.query("gpu_info")) == hosts * GPUS_PER_HOST,
                READY_TIMEOUT_S,
                "every host scraped once",
            )
            print("waiting for the backfilled blocks' compaction ...", flush=True)
            compaction_wait_s = wait_for_compaction(server, data)
            credentials = {"prometheus_url": server.url, "price_per_gpu_hour": "2.5"}
            with PluginRuntime() as runtime:
                tools = timed_calls(runtime, credentials, calls, query_log, server.pid)
            return {
                "hosts": hosts,
                "gpus": hosts * GPUS_PER_HOST,
                "head_series": series_count(server),
                "usage_rules": usage_rules,
                "backfill": filled,
                "compaction_wait_s": compaction_wait_s,
                "scrape_interval_s": STEP_S,
                # what gpu_usage_report must find: every workload's busy ratio × 24 h
                "expected_gpu_hours_24h": round(
                    sum(w.busy_ratio for h in range(hosts) for w in workloads(h)) * 24, 2
                ),
                "tools": tools,
            }


def direct_mode(calls: int) -> dict[str, Any]:
    collectors = [
        CollectorProcess(TRACE, token="bench-token", hostname=f"gpu-node-{n:02d}")
        for n in range(1, DIRECT_COLLECTORS + 1)
    ]
    with contextlib.ExitStack() as stack:
        for collector in collectors:
            stack.enter_context(collector)
        credentials = {
            "collector_url": ",".join(c.url for c in collectors),
            "collector_token": "bench-token",
            "price_per_gpu_hour": "2.5",
        }
        with PluginRuntime() as runtime:
            tools = timed_calls(runtime, credentials, calls, None)
    return {"collectors": DIRECT_COLLECTORS, "gpus": DIRECT_COLLECTORS, "tools": tools}


def markdown(result: dict[str, Any]) -> Iterator[str]:
    fleets, direct = result["prometheus"], result["direct"]
    head = [f"Prometheus, {f['gpus']:,} GPUs: p50 / p99" for f in fleets]
    yield "| tool | " + " | ".join(head) + f" | direct, {direct['collectors']} collectors |"
    yield "|---|" + "---|" * (len(fleets) + 1)
    for tool in CALLS:
        cells = [f"{f['tools'][tool]['p50_ms']} / {f['tools'][tool]['p99_ms']} ms" for f in fleets]
        d = direct["tools"][tool]
        yield f"| `{tool}` | " + " | ".join(cells) + f" | {d['p50_ms']} / {d['p99_ms']} ms |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="measured calls per tool (≤ 200)")
    parser.add_argument(
        "--hosts",
        default=f"{SMALL_HOSTS},{HOSTS}",
        help=f"fleet sizes to run, in hosts of 8 GPUs, comma-separated (each ≤ {HOSTS})",
    )
    parser.add_argument(
        "--without-usage-rules",
        action="store_true",
        help="neither backfill nor load the usage recording rules: reports read the counters",
    )
    parser.add_argument("--json-out", type=Path, help="write the results here")
    args = parser.parse_args()
    calls = max(1, min(args.calls, 200))
    sizes = [max(1, min(int(n), HOSTS)) for n in args.hosts.split(",")]
    load_at_start = os.getloadavg()
    fleets = []
    for hosts in sizes:
        with tempfile.TemporaryDirectory(prefix="prometheus-fleet-") as folder:
            fleets.append(prometheus_mode(hosts, calls, Path(folder), not args.without_usage_rules))
    direct = direct_mode(calls)
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            # as `uptime` shows them: over the last 1, 5 and 15 minutes
            "load_average": {
                "start": [round(n, 2) for n in load_at_start],
                "end": [round(n, 2) for n in os.getloadavg()],
            },
        },
        "prometheus_version": _prometheus_version(),
        "prometheus": fleets,
        "direct": direct,
    }
    text = json.dumps(result, indent=2)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print("\n".join(markdown(result)))
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def _prometheus_version() -> str:
    out = subprocess.run(["prometheus", "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).split("\n", 1)[0]


if __name__ == "__main__":
    sys.exit(main())
