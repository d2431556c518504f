"""A real vLLM OpenAI server on dummy weights: its command, its environment, and its log facts.

`parse_log` reads the numbers vLLM prints about its own memory (vLLM 0.24 wording; its GiB
figures are rounded to 0.01 GiB). `VllmServer` starts one server, waits until it serves, and
stops it (SIGTERM to the API server, which takes its engine core with it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from multicast_off import MULTICAST_OFF

# Required with vLLM 0.24 on a host without FlashInfer: Model Runner V2's sampler imports it
# otherwise and the engine dies right after loading weights. The rest keep it offline, and
# NVLink multicast off (harmless on one GPU, required on several).
ENVIRONMENT = {
    **MULTICAST_OFF,
    "VLLM_USE_FLASHINFER_SAMPLER": "0",
    "TVM_FFI_DISABLE_TORCH_C_DLPACK": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_LOGGING_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}
STOP_TIMEOUT_S = 30.0

_NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "weights_gib": re.compile(rf"Model loading took {_NUMBER} GiB"),
    "weights_load_s": re.compile(rf"Model loading took [0-9.]+ GiB(?: memory)? and {_NUMBER} s"),
    "available_kv_cache_gib": re.compile(rf"Available KV cache memory: {_NUMBER} GiB"),
    "kv_cache_tokens": re.compile(rf"GPU KV cache size: {_NUMBER} tokens"),
    "cuda_graph_gib": re.compile(rf"Graph capturing finished in [0-9]+ secs, took {_NUMBER} GiB"),
    "max_num_batched_tokens": re.compile(
        rf"Chunked prefill is enabled with max_num_batched_tokens={_NUMBER}"
    ),
    "torch_compile_s": re.compile(rf"torch\.compile took {_NUMBER} s in total"),
    "init_engine_s": re.compile(
        rf"init engine \(profile, create kv cache, warmup model\) took {_NUMBER} s"
    ),
}
_CONCURRENCY = re.compile(rf"Maximum concurrency for {_NUMBER} tokens per request: {_NUMBER}x")
# Model Runner V1 counts graph memory into its budget; this line gives the estimate it used.
_GRAPH_ESTIMATE = re.compile(
    r"The current --gpu-memory-utilization=([0-9.]+) is equivalent to "
    r"--gpu-memory-utilization=([0-9.]+) without CUDA graph memory profiling"
)
_BACKEND = re.compile(r"Using (\S+) attention backend out of potential backends")
_NCCL = re.compile(r"vLLM is using nccl==(\S+)")
_CUSTOM_ALLREDUCE_OFF = re.compile(r"(Custom allreduce is disabled [^.\n]*)")
# Each line a process of the server writes starts `(<its name> pid=<pid>)`: `APIServer`,
# `EngineCore`, and with tensor or pipeline parallelism `Worker_TP0`, `Worker_PP1_TP0`, …
_WRITER = re.compile(r"^\((\w+) pid=\d+\)")
_VERSION = re.compile(r"Initializing a V1 LLM engine \(v([^)]+)\)")


@dataclass
class LogFacts:
    """What vLLM said about its memory at start; None where it printed no such line."""

    vllm_version: str | None = None
    model_runner: str | None = None  # "v1" or "v2"
    attention_backends: list[str] = field(default_factory=list)
    weights_gib: float | None = None
    weights_load_s: float | None = None
    available_kv_cache_gib: float | None = None
    kv_cache_tokens: int | None = None
    max_concurrency: float | None = None
    max_concurrency_tokens: int | None = None  # the per-request length it was computed for
    cuda_graph_gib: float | None = None
    cuda_graph_budgeted_utilization: tuple[float, float] | None = None  # (asked, without graphs)
    nccl_version: str | None = None  # set when it started NCCL (more than one GPU)
    custom_allreduce_refusals: list[str] = field(default_factory=list)  # why it fell back
    max_num_batched_tokens: int | None = None
    torch_compile_s: float | None = None
    init_engine_s: float | None = None
    errors: list[str] = field(default_factory=list)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_log(text: str) -> LogFacts:
    facts = LogFacts()
    for name, pattern in _PATTERNS.items():
        found = pattern.findall(text)
        if found:
            value = _number(found[-1])
            setattr(
                facts,
                name,
                int(value) if name in ("kv_cache_tokens", "max_num_batched_tokens") else value,
            )
    if match := _CONCURRENCY.search(text):
        facts.max_concurrency_tokens = int(_number(match.group(1)))
        facts.max_concurrency = _number(match.group(2))
    if match := _GRAPH_ESTIMATE.search(text):
        facts.cuda_graph_budgeted_utilization = (float(match.group(1)), float(match.group(2)))
    if match := _VERSION.search(text):
        facts.vllm_version = match.group(1)
    if match := _NCCL.search(text):
        facts.nccl_version = match.group(1)
    facts.custom_allreduce_refusals = sorted(set(_CUSTOM_ALLREDUCE_OFF.findall(text)))
    facts.model_runner = "v2" if "Using V2 Model Runner" in text else "v1"
    facts.attention_backends = sorted(set(_BACKEND.findall(text)))
    facts.errors = [
        line.strip()[-400:]
        for line in text.splitlines()
        if re.search(r"\bERROR\b|Traceback|Error: |Exception: ", line)
    ][-12:]
    return facts


def worker_logs(text: str) -> dict[str, str]:
    """The lines of each GPU worker of a parallel server (`Worker_TP0` …), by worker name."""
    lines: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _WRITER.match(line)
        if match and match.group(1).startswith("Worker"):
            lines.setdefault(match.group(1), []).append(line)
    return {name: "\n".join(found) for name, found in sorted(lines.items())}


def server_command(
    model_dir: Path,
    served_name: str,
    port: int,
    max_model_len: int | None,
    gpu_memory_utilization: float | None,
    extra_args: tuple[str, ...] = (),
) -> list[str]:
    """The server on dummy weights; a None setting is left to `extra_args` (or vLLM's default)."""
    settings = []
    if max_model_len is not None:
        settings += ["--max-model-len", str(max_model_len)]
    if gpu_memory_utilization is not None:
        settings += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        served_name,
        "--load-format",
        "dummy",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *settings,
        *extra_args,
    ]


def http_get(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.read().decode()


def http_post_json(url: str, body: dict[str, Any], timeout_s: float = 120.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


class VllmServer:
    """One vLLM server process; `log_path` receives its output."""

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.command = command
        self.log_path = log_path
        self.port = int(command[command.index("--port") + 1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **ENVIRONMENT, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_s: float | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout_s: float) -> bool:
        """True once /health answers 200; False when the server exited or the time ran out."""
        assert self.process is not None
        deadline = self.started_at + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                http_get(f"{self.base_url}/health", timeout_s=2)
                self.ready_s = time.monotonic() - self.started_at
                return True
            except OSError:
                time.sleep(0.5)
        return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        children = descendants(self.process.pid)
        terminate(self.process)
        for pid in children:  # an engine core left behind by a killed server
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return self.process.returncode


def terminate(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, then SIGKILL after `timeout_s`; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
    return process.returncode


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """PIDs of a process's children, grandchildren, … (from /proc/<pid>/stat)."""
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def process_facts(pid: int, proc: Path = Path("/proc")) -> dict[str, Any]:
    """What attribution reads about one process: argv (NUL-split cmdline), comm, PPid."""
    base = proc / str(pid)
    raw = (base / "cmdline").read_bytes()
    status = dict(
        line.split(":", 1) for line in (base / "status").read_text().splitlines() if ":" in line
    )
    return {
        "pid": pid,
        "ppid": int(status["PPid"].strip()),
        "comm": (base / "comm").read_text().strip(),
        "cmdline_raw": raw.decode("utf-8", "replace"),
        "argv": [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part],
    }


def as_dict(facts: LogFacts) -> dict[str, Any]:
    return asdict(facts)


def main() -> None:
    """`python3 bench/engines/vllm_server.py MODEL_ID MODEL_DIR PORT MAX_MODEL_LEN GPU_MEM [ARGS]`

    Writes the dummy model folder, then becomes the vLLM server (same PID) in its environment.
    """
    if len(sys.argv) < 6:
        raise SystemExit(main.__doc__)
    from dummy_model import write_model

    model_id, model_dir, port, max_model_len, utilization, *extra = sys.argv[1:]
    write_model(model_id, Path(model_dir))
    command = server_command(
        Path(model_dir), model_id, int(port), int(max_model_len), float(utilization), tuple(extra)
    )
    os.execvpe(command[0], command, {**os.environ, **ENVIRONMENT})


if __name__ == "__main__":
    main()
