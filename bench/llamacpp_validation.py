"""Measure what llama.cpp's `llama-server` holds on an NVIDIA GPU, for GGUFs of real model shapes.

    python3 bench/llamacpp_validation.py prepare --gguf-dir DIR --bin DIR [--cases NAME ...]
    python3 bench/llamacpp_validation.py measure --gguf-dir DIR --bin DIR --out DIR [--cases ...]

`prepare` writes each model's F16 GGUF with pseudo-random weights (`bench/engines/gguf_model.py`),
quantizes it with llama.cpp's own `llama-quantize` (real file sizes and tensor types) and deletes
the F16 once the quantized file exists. `measure` starts, per case, `llama-server -ngl 99 -c CTX
-np N -fa FA -ctk/-ctv KV --metrics -lv 4`, waits for /health, records NVML (the server's process
and the device), sends a short completion and then one long prompt per slot (64 tokens short of
the slot's size, all slots at once), records NVML again, saves `/metrics`, `/props` and
`/v1/models`, stops the server by its PID (SIGTERM) and parses its log: llama.cpp's model, KV,
output and compute buffers and its memory breakdown table (`bench/engines/llamacpp_server.py`).
DIR receives llamacpp_validation.json (rewritten after every case), logs/ and, for the cases
marked `fixtures`, fixtures/. `tests/estimate/test_validation_against_llamacpp.py` compares the
estimator with the committed result. A case that does not start is recorded, never fatal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent / "engines"))
from dummy_model import published, vocab_size
from gguf_model import BYTE_TOKENS, write_gguf
from llamacpp_server import parse_log, server_command
from vllm_server import VllmServer, http_get, http_post_json

LLAMA_CPP_COMMIT = "0c1e57098"  # the tree in the llama-cpp-python 0.3.36 sdist
START_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 180.0
QUANTIZE_TIMEOUT_S = 900.0
RELEASE_TIMEOUT_S = 30.0
IDLE_DEVICE_MIB = 64.0  # what NVML may still count on an idle GPU after a server exits
PORT = 8080
PREDICT_TOKENS = 16
SLOT_MARGIN_TOKENS = 64  # a long prompt stops this short of its slot: room for the answer
MIB = 2**20


@dataclass(frozen=True)
class GgufModel:
    name: str
    model_id: str  # its published config in bench/engines/models.json
    gguf_type: str  # what llama-quantize makes of the F16 file

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.gguf_type}.gguf"


LLAMA = GgufModel("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M")
QWEN = GgufModel("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", "Q8_0")


@dataclass(frozen=True)
class Case:
    name: str
    model: GgufModel
    context: int  # -c: the KV cache's tokens, shared by the slots
    parallel: int  # -np
    flash_attn: str = "auto"  # -fa on|off|auto
    kv_type: str = "f16"  # -ctk and -ctv
    fixtures: bool = False
    why: str = ""

    @property
    def slot_tokens(self) -> int:
        return self.context // self.parallel


CASES: tuple[Case, ...] = (
    Case("llama-3.1-8b-q4km-8k", LLAMA, 8192, 1, fixtures=True, why="untied embedding, one slot"),
    Case("llama-3.1-8b-q4km-32k-np4", LLAMA, 32768, 4, why="four 8k slots sharing -c 32768"),
    Case("qwen2.5-1.5b-q8-8k", QWEN, 8192, 1, why="tied embedding: on the host and the GPU"),
    Case("qwen2.5-1.5b-q8-32k-np4", QWEN, 32768, 4, why="tied, four slots"),
    Case("llama-3.1-8b-q4km-32k-np4-fa-off", LLAMA, 32768, 4, "off", why="compute without FA"),
    Case("llama-3.1-8b-q4km-32k-np4-kv-q8", LLAMA, 32768, 4, kv_type="q8_0", why="q8_0 KV"),
    Case("llama-3.1-8b-q4km-8k-fa-off", LLAMA, 8192, 1, "off", why="FA off at a shorter context"),
    Case("llama-3.1-8b-q4km-32k", LLAMA, 32768, 1, why="one 32k slot: the same KV as four 8k"),
)


class Readings(Protocol):
    def device_used_mib(self) -> float: ...
    def processes_by_gpu(self) -> list[dict[int, float]]: ...
    def host(self) -> dict[str, Any]: ...


class SmiReadings:
    """nvidia-smi's figures, where NVML cannot be read from Python."""

    @staticmethod
    def _query(what: str, fields: str) -> list[list[str]]:
        answer = subprocess.run(
            ["nvidia-smi", f"--query-{what}={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return [[cell.strip() for cell in line.split(",")] for line in answer.splitlines() if line]

    def device_used_mib(self) -> float:
        return sum(float(row[0]) for row in self._query("gpu", "memory.used"))

    def processes_by_gpu(self) -> list[dict[int, float]]:
        return [
            {int(pid): float(mib) for pid, mib in self._query("compute-apps", "pid,used_memory")}
        ]

    def host(self) -> dict[str, Any]:
        name, driver, total = self._query("gpu", "name,driver_version,memory.total")[0]
        return {"gpu": name, "driver_version": driver, "memory_total_mib": float(total)}


def open_readings() -> tuple[Readings, str]:
    try:
        from engine_validation import Nvml

        return Nvml(), "nvml"
    except Exception as exc:  # no pynvml, or the project's imports are absent on the host
        print(f"llamacpp_validation: NVML unreadable ({exc}); using nvidia-smi", flush=True)
        return SmiReadings(), "nvidia-smi"


def process_mib(readings: Readings, pid: int) -> float | None:
    held = [gpu[pid] for gpu in readings.processes_by_gpu() if pid in gpu]
    return sum(held) if held else None


def snapshot(readings: Readings, pid: int) -> dict[str, float | None]:
    return {
        "process_mib": process_mib(readings, pid),
        "device_used_mib": readings.device_used_mib(),
    }


def prompt_ids(count: int, vocab: int, seed: int) -> list[int]:
    """`count` token ids past the special and byte tokens (every one a plain token)."""
    rng = random.Random(seed)
    return [rng.randrange(3 + BYTE_TOKENS, vocab) for _ in range(count)]


def complete(server: VllmServer, prompt: list[int]) -> dict[str, Any]:
    answer = http_post_json(
        f"{server.base_url}/completion",
        {
            "prompt": prompt,
            "n_predict": PREDICT_TOKENS,
            "ignore_eos": True,
            "temperature": 0,
            "cache_prompt": False,
        },
        timeout_s=REQUEST_TIMEOUT_S,
    )
    return {"tokens_evaluated": answer.get("tokens_evaluated"), "timings": answer.get("timings")}


def measure_running(
    server: VllmServer, case: Case, readings: Readings, fixtures_dir: Path | None
) -> dict[str, Any]:
    vocab = vocab_size(published(case.model.model_id)["config"])
    measured: dict[str, Any] = {"at_ready": snapshot(readings, server.pid)}
    measured["short"] = complete(server, prompt_ids(64, vocab, seed=1))
    long_tokens = case.slot_tokens - SLOT_MARGIN_TOKENS
    prompts = [prompt_ids(long_tokens, vocab, seed=10 + slot) for slot in range(case.parallel)]
    with ThreadPoolExecutor(case.parallel) as pool:
        measured["long"] = list(pool.map(lambda prompt: complete(server, prompt), prompts))
    measured["long_prompt_tokens"] = long_tokens
    measured["after_long_prompts"] = snapshot(readings, server.pid)
    measured["short_again"] = complete(server, prompt_ids(64, vocab, seed=2))
    time.sleep(1.0)
    measured["steady"] = snapshot(readings, server.pid)
    metrics = http_get(f"{server.base_url}/metrics")
    props = http_get(f"{server.base_url}/props")
    models = http_get(f"{server.base_url}/v1/models")
    measured["metric_names"] = sorted(set(re.findall(r"^(llamacpp:\w+)", metrics, re.MULTILINE)))
    measured["props"] = {
        key: value
        for key, value in json.loads(props).items()
        if key
        in ("total_slots", "model_path", "build_info", "n_ctx", "default_generation_settings")
    }
    measured["models"] = json.loads(models)  # its `meta`: n_params, size, n_ctx_train
    if fixtures_dir is not None:
        fixtures_dir.mkdir(parents=True, exist_ok=True)
        (fixtures_dir / "metrics.txt").write_text(metrics)
        (fixtures_dir / "props.json").write_text(props)
        (fixtures_dir / "models.json").write_text(models)
    return measured


def wait_released(readings: Readings, baseline_mib: float) -> tuple[float, float]:
    """(device used MiB, seconds waited) once back near the baseline, or at the timeout."""
    started = time.monotonic()
    used = readings.device_used_mib()
    while used > baseline_mib + IDLE_DEVICE_MIB and time.monotonic() - started < RELEASE_TIMEOUT_S:
        time.sleep(0.25)
        used = readings.device_used_mib()
    return used, time.monotonic() - started


def run_case(
    case: Case, readings: Readings, gguf_dir: Path, bin_dir: Path, out: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {"case": asdict(case), "status": "failed"}
    model = gguf_dir / case.model.file_name
    if not model.exists():
        result["status"] = f"skipped: {model.name} was not prepared"
        return result
    result["gguf_bytes"] = model.stat().st_size
    baseline = readings.device_used_mib()
    result["nvml_baseline_mib"] = baseline
    command = server_command(
        bin_dir / "llama-server",
        model,
        PORT,
        case.context,
        case.parallel,
        case.flash_attn,
        case.kv_type,
    )
    result["command"] = command
    server = VllmServer(command, out / "logs" / f"{case.name}.log")  # start, /health, SIGTERM
    server.start()
    print(f"[{case.name}] starting: {' '.join(command[3:])}", flush=True)
    try:
        ready = server.wait_ready(START_TIMEOUT_S)
        result["ready_s"] = server.ready_s
        fixtures = out / "fixtures" if case.fixtures else None
        result["measured"] = measure_running(server, case, readings, fixtures) if ready else None
        result["status"] = "ok" if ready else "did not start"
    except Exception as exc:  # a failed case is recorded, never fatal
        result["status"] = f"error: {type(exc).__name__}: {exc}"[:400]
    finally:
        result["exit_status"] = server.stop()
    result["nvml_after_stop_mib"], result["release_s"] = wait_released(readings, baseline)
    result["log"] = asdict(parse_log(server.log_text()))
    print(f"[{case.name}] {result['status']} {summary(result)}", flush=True)
    return result


def summary(result: dict[str, Any]) -> str:
    log, measured = result["log"], result.get("measured") or {}
    steady = measured.get("steady") or {}
    return (
        f"ready {result.get('ready_s') or 0:.1f} s; model {log['model_buffers_mib']}, "
        f"KV {log['kv_buffers_mib']}, compute {log['compute_buffers_mib']} MiB, "
        f"FA {log['flash_attn']}; process {steady.get('process_mib')} MiB, "
        f"device {steady.get('device_used_mib')} MiB"
    )


def prepare(model: GgufModel, gguf_dir: Path, bin_dir: Path) -> dict[str, Any]:
    """The quantized GGUF of `model` (kept if already there), with how it was made."""
    target = gguf_dir / model.file_name
    facts: dict[str, Any] = {"model": asdict(model), "file": target.name}
    if target.exists():
        return {**facts, "status": "ok", "bytes": target.stat().st_size, "reused": True}
    f16 = gguf_dir / f"{model.name}-F16.gguf"
    started = time.monotonic()
    write_gguf(model.model_id, f16)
    facts["f16_bytes"] = f16.stat().st_size
    facts["f16_write_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    log = gguf_dir / f"{model.name}-quantize.log"
    with log.open("wb") as sink:
        try:
            status = subprocess.run(
                [str(bin_dir / "llama-quantize"), str(f16), str(target), model.gguf_type],
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=QUANTIZE_TIMEOUT_S,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            status = -1
    facts["quantize_s"] = round(time.monotonic() - started, 1)
    facts["quantize_exit_status"] = status
    if match := re.search(r"quant size += +([0-9.]+) MiB", log.read_text(errors="replace")):
        facts["quant_size_mib"] = float(match.group(1))
    if status == 0 and target.exists():
        f16.unlink()  # the host's disk holds one F16 at a time
        return {**facts, "status": "ok", "bytes": target.stat().st_size}
    target.unlink(missing_ok=True)
    f16.unlink(missing_ok=True)
    return {**facts, "status": "failed"}


def llama_server_version(bin_dir: Path) -> str:
    try:
        answer = subprocess.run(
            [str(bin_dir / "llama-server"), "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (answer.stdout + answer.stderr).strip()


def cuda_version() -> str | None:
    try:
        answer = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"CUDA Version: ([0-9.]+)", answer)
    return match.group(1) if match else None


def selected(names: list[str] | None, parser: argparse.ArgumentParser) -> list[Case]:
    by_name = {case.name: case for case in CASES}
    unknown = sorted(set(names or ()) - set(by_name))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(by_name)}")
    return [by_name[name] for name in names] if names else list(CASES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("prepare", "measure"))
    parser.add_argument("--gguf-dir", type=Path, required=True)
    parser.add_argument("--bin", type=Path, required=True, help="llama.cpp's build/bin")
    parser.add_argument("--out", type=Path, help="measure: where results go")
    parser.add_argument("--cases", nargs="*", help="case names (default: all, in order)")
    args = parser.parse_args()
    cases = selected(args.cases, parser)
    models = list(dict.fromkeys(case.model for case in cases))
    if args.step == "prepare":
        args.gguf_dir.mkdir(parents=True, exist_ok=True)
        made = [prepare(model, args.gguf_dir, args.bin) for model in models]
        (args.gguf_dir / "prepare.json").write_text(json.dumps(made, indent=1))
        print(json.dumps(made, indent=1), flush=True)
        return 0 if all(entry["status"] == "ok" for entry in made) else 1
    if args.out is None:
        parser.error("measure needs --out")
    readings, source = open_readings()
    args.out.mkdir(parents=True, exist_ok=True)
    prepared = args.gguf_dir / "prepare.json"
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {
            **readings.host(),
            "memory_source": source,
            "cuda_version": cuda_version(),
            "llama_cpp_commit": LLAMA_CPP_COMMIT,
            "llama_server_version": llama_server_version(args.bin),
        },
        "note": "GGUFs of published config.json shapes with pseudo-random weights, quantized by "
        "llama-quantize; llama.cpp's MiB figures are printed to 0.01 MiB, the breakdown "
        "table's in whole MiB",
        "prepare": json.loads(prepared.read_text()) if prepared.exists() else None,
        "cases": [],
    }
    result_file = args.out / "llamacpp_validation.json"
    for case in cases:
        report["cases"].append(run_case(case, readings, args.gguf_dir, args.bin, args.out))
        result_file.write_text(json.dumps(report, indent=1))
    ok = sum(1 for case in report["cases"] if case["status"] == "ok")
    print(f"llamacpp_validation: {ok}/{len(report['cases'])} cases ok -> {result_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
