"""Open-loop HTTP load at a fixed rate against a collector's API; latency percentiles per path.

    python3 bench/api_load.py URL TOKEN [--rate 500] [--duration-s 10]
        [--paths /v1/snapshot,/metrics] [--pid COLLECTOR_PID] [--json-out FILE]

Each path gets its own run: request i is due at start + i/rate whatever happened before
(open loop), sent over a pool of keep-alive HTTP/1.1 connections. Latency is measured from the
moment a request was due, so a server or client falling behind shows in the percentiles
instead of silently lowering the rate; `send_lag` says how late requests left the client.
Bounded: at most rate × duration requests per path and duration + timeout seconds.
With --pid, the target's CPU time over each run is read from /proc/<pid>/stat.
Exits 1 when more than 1 % of the requests failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

MAX_REQUESTS_PER_PATH = 50_000
WARMUP_REQUESTS = 50
ERROR_RATIO_LIMIT = 0.01
# A failed request: refused or reset, timed out, cut short, or not HTTP.
REQUEST_ERRORS = (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is fields[0]
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of the file)
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class PathResult:
    path: str
    rate_per_s: float
    requests: int
    ok: int
    failed: int
    wall_s: float
    achieved_per_s: float
    latency_ms: dict[str, float] = field(default_factory=dict)  # from due time to last byte
    send_lag_ms: dict[str, float] = field(default_factory=dict)  # from due time to send
    response_bytes: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    target_cpu_percent: float | None = None  # of one core, over the run


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects after an error."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> tuple[int, int]:
        """Sends a prepared GET; returns (status, body bytes)."""
        try:
            return await asyncio.wait_for(self._exchange(request), self._timeout_s)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, request: bytes) -> tuple[int, int]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            size = await self._read_chunked()
        else:
            size = int(headers.get("content-length", "0"))
            await self._reader.readexactly(size)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, size

    async def _read_chunked(self) -> int:
        assert self._reader is not None
        total = 0
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await self._reader.readexactly(size + 2)
            total += size
            if size == 0:
                return total

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def run_path(
    url: str,
    token: str,
    path: str,
    rate: float,
    duration_s: float,
    concurrency: int,
    timeout_s: float,
    pid: int | None,
) -> PathResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET {parts.path.rstrip('/')}{path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: */*\r\n\r\n"
    ).encode()
    connections = [Connection(host, port, timeout_s) for _ in range(concurrency)]
    total = min(MAX_REQUESTS_PER_PATH, int(rate * duration_s))

    for index in range(WARMUP_REQUESTS):  # opens connections, warms the server's caches
        with contextlib.suppress(*REQUEST_ERRORS):
            await connections[index % concurrency].get(request)

    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[str, int] = {}
    sizes: list[int] = []
    queue: asyncio.Queue[float | None] = asyncio.Queue()

    async def worker(connection: Connection) -> None:
        while (due := await queue.get()) is not None:
            lags.append(time.perf_counter() - due)
            try:
                status, size = await connection.get(request)
            except REQUEST_ERRORS as exc:
                key = type(exc).__name__
            else:
                key = str(status)
                if status == 200:
                    latencies.append(time.perf_counter() - due)
                    sizes.append(size)
            statuses[key] = statuses.get(key, 0) + 1

    workers = [asyncio.create_task(worker(c)) for c in connections]
    cpu_before = process_cpu_seconds(pid) if pid else None
    start = time.perf_counter()
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(None)
    try:
        await asyncio.wait_for(asyncio.gather(*workers), duration_s + timeout_s + 5)
    except TimeoutError:
        for task in workers:
            task.cancel()
    wall_s = time.perf_counter() - start
    cpu_percent = None
    if pid and cpu_before is not None:
        cpu_percent = round(100 * (process_cpu_seconds(pid) - cpu_before) / wall_s, 1)
    for connection in connections:
        connection.close()

    ok = len(latencies)
    done = sum(statuses.values())
    return PathResult(
        path=path,
        rate_per_s=rate,
        requests=total,
        ok=ok,
        failed=total - ok,
        wall_s=round(wall_s, 3),
        achieved_per_s=round(done / wall_s, 1),
        latency_ms=_summary_ms(latencies),
        send_lag_ms=_summary_ms(lags),
        response_bytes=int(statistics.median(sizes)) if sizes else None,
        statuses=statuses,
        target_cpu_percent=cpu_percent,
    )


def _summary_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 0.50) * 1000, 3),
        "p90": round(percentile(ordered, 0.90) * 1000, 3),
        "p99": round(percentile(ordered, 0.99) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
    }


def markdown(results: list[PathResult]) -> str:
    rows = [
        "| path | rate/s | ok/sent | p50 ms | p90 ms | p99 ms | max ms | send lag p99 ms "
        "| target CPU % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r.latency_ms
        rows.append(
            f"| {r.path} | {r.achieved_per_s:g} | {r.ok}/{r.requests} | {lat.get('p50')} | "
            f"{lat.get('p90')} | {lat.get('p99')} | {lat.get('max')} | "
            f"{r.send_lag_ms.get('p99')} | {r.target_cpu_percent} |"
        )
    return "\n".join(rows)


def run(
    url: str,
    token: str,
    paths: list[str],
    rate: float,
    duration_s: float,
    concurrency: int,
    timeout_s: float,
    pid: int | None,
) -> list[PathResult]:
    return [
        asyncio.run(run_path(url, token, path, rate, duration_s, concurrency, timeout_s, pid))
        for path in paths
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="collector base URL, e.g. http://127.0.0.1:9470")
    parser.add_argument("token", help="bearer token ('-': read it from $GPU_INSIGHT_TOKEN)")
    parser.add_argument("--paths", default="/v1/snapshot,/metrics")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (1..5000)")
    parser.add_argument("--duration-s", type=float, default=10.0, help="seconds per path (1..120)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (1..256)")
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument("--pid", type=int, default=None, help="collector pid, for its CPU use")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.rate <= 5000:
        parser.error(f"--rate must be in 1..5000, got {args.rate}")
    if not 1 <= args.duration_s <= 120:
        parser.error(f"--duration-s must be in 1..120, got {args.duration_s}")
    if not 1 <= args.concurrency <= 256:
        parser.error(f"--concurrency must be in 1..256, got {args.concurrency}")
    if urlsplit(args.url).scheme != "http":
        parser.error("url must be plain http://host:port (loopback load only)")
    token = os.environ.get("GPU_INSIGHT_TOKEN", "") if args.token == "-" else args.token
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    results = run(
        args.url,
        token,
        paths,
        args.rate,
        args.duration_s,
        args.concurrency,
        args.timeout_s,
        args.pid,
    )
    report = {
        "url": args.url,
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "results": [asdict(r) for r in results],
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1) + "\n")
    print(markdown(results))
    failed = [r for r in results if r.failed > ERROR_RATIO_LIMIT * r.requests]
    for r in failed:
        print(
            f"api_load: {r.path}: {r.failed} of {r.requests} requests failed: {r.statuses}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
