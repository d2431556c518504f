"""Measure what Hugging Face transformers really holds on an NVIDIA GPU, for real model shapes.

Builds models from the catalog's official config.json values with random bf16 weights (nothing
is downloaded), runs one prefill (`use_cache=True`, `logits_to_keep=1`) per batch × sequence
point and records, per point: weight bytes, KV-cache bytes, peak allocated bytes, the process's
non-torch memory (CUDA context, cuBLAS/cuDNN handles) and NVML's device view. The estimator's
test `tests/estimate/test_validation_against_h100.py` compares itself with the result.

Run on a GPU host (torch, transformers >= 5 and nvidia-ml-py installed), from the repository root:

    python3 bench/vram_validation.py          # -> bench/results/vram_validation-<date>-<gpu>.json
    python3 bench/vram_validation.py --quick    # first point of each model only

Each point runs in its own try/except: an out-of-memory or any other error is recorded, never
fatal. Models too large for one GPU are scaled down by layer count (recorded in `config`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvml  # nvidia-ml-py: read before torch touches the GPU

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "gpu_insight" / "estimate" / "catalog.json"
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Case:
    model_id: str
    points: tuple[tuple[int, int], ...]  # (batch, sequence length)
    num_hidden_layers: int | None = None  # scale down by layers when the full model is too big
    why: str = ""


# Short and long context, small and large batch; sliding-window, MHA and tied-embedding shapes.
CASES: tuple[Case, ...] = (
    Case(
        "Qwen/Qwen2.5-0.5B-Instruct",
        ((1, 512), (16, 1024), (1, 8192), (4, 8192), (1, 32768)),
        why="tied embeddings, 2 KV heads, large vocab relative to size",
    ),
    Case(
        "meta-llama/Llama-3.2-1B-Instruct",
        ((1, 512), (8, 2048), (1, 16384), (1, 32768)),
        why="tied embeddings, explicit head_dim 64",
    ),
    Case("Qwen/Qwen2.5-1.5B-Instruct", ((1, 1024), (8, 4096), (1, 32768)), why="tied, qkv bias"),
    Case("meta-llama/Llama-3.2-3B-Instruct", ((1, 512), (4, 8192), (1, 32768)), why="tied, GQA"),
    Case(
        "Qwen/Qwen2.5-7B-Instruct",
        ((1, 512), (8, 2048), (1, 16384), (2, 16384)),
        why="GQA 28:4, untied",
    ),
    Case(
        "meta-llama/Llama-3.1-8B-Instruct",
        ((1, 1024), (4, 4096), (1, 16384)),
        why="reference model of the research note",
    ),
    Case(
        "mistralai/Mistral-7B-v0.1",
        ((1, 2048), (1, 8192), (4, 8192)),
        why="sliding window 4096 on every layer",
    ),
    Case(
        "microsoft/Phi-3-mini-4k-instruct",
        ((1, 1024), (8, 2048), (4, 4096)),
        why="MHA (32 KV heads), sliding window 2047",
    ),
    Case(
        "google/gemma-2-9b-it",
        ((1, 1024), (1, 8192), (4, 4096)),
        why="alternating local(4096)/global layers, head_dim 256",
    ),
    Case(
        "google/gemma-3-1b-it",
        ((1, 1024), (1, 16384), (8, 4096), (1, 32768)),
        why="5 local(512) : 1 global layers, 1 KV head; at 32k the sliding layers' SDPA mask "
        "copy outgrows the MLP",
    ),
    Case("Qwen/Qwen2.5-14B-Instruct", ((1, 2048), (2, 8192)), why="larger dense GQA model"),
    Case(
        "meta-llama/Llama-3.1-70B-Instruct",
        ((1, 2048), (1, 8192)),
        num_hidden_layers=16,
        why="70B layer shapes, scaled to 16 layers to fit one 80 GB GPU",
    ),
)


def nvml_used_bytes(handle: Any) -> int:
    """Device memory in use per NVML memory v2 (excludes the driver's own reserve)."""
    info = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    return int(info.used)


def process_used_bytes(handle: Any) -> int | None:
    pid = os.getpid()
    try:
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid and proc.usedGpuMemory is not None:
                return int(proc.usedGpuMemory)
    except pynvml.NVMLError:
        return None
    return None


def load_catalog() -> dict[str, dict[str, Any]]:
    data = json.loads(CATALOG.read_text())
    return {entry["id"]: entry for entry in data["models"]}


def cache_tensors(cache: Any) -> list[tuple[Any, Any]]:
    """(keys, values) per layer for transformers' Cache objects and legacy tuples."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [
            (layer.keys, layer.values)
            for layer in layers
            if getattr(layer, "keys", None) is not None
        ]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache, strict=True))
    return [(k, v) for k, v in cache]


def measure_point(
    torch: Any, model: Any, handle: Any, vocab: int, batch: int, seq: int
) -> dict[str, Any]:
    point: dict[str, Any] = {"batch": batch, "seq_len": seq, "tokens": batch * seq}
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    before_alloc = torch.cuda.memory_allocated()
    ids = torch.randint(0, vocab, (batch, seq), device="cuda")
    started = time.perf_counter()
    out = None
    try:
        with torch.inference_mode():
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        torch.cuda.synchronize()
        pairs = cache_tensors(out.past_key_values)
        point["kv_bytes"] = sum(
            k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in pairs
        )
        point["kv_tokens_per_layer"] = [int(k.shape[-2]) for k, _ in pairs]
        point["kv_dtype"] = str(pairs[0][0].dtype) if pairs else None
        point["logits_bytes"] = out.logits.numel() * out.logits.element_size()
        point["input_ids_bytes"] = ids.numel() * ids.element_size()
        point["allocated_before_bytes"] = before_alloc
        point["peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
        point["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
        point["reserved_after_bytes"] = torch.cuda.memory_reserved()
        point["nvml_used_bytes"] = nvml_used_bytes(handle)
        point["nvml_process_used_bytes"] = process_used_bytes(handle)
        point["forward_s"] = round(time.perf_counter() - started, 3)
        point["status"] = "ok"
    except torch.cuda.OutOfMemoryError as exc:
        point["status"] = "oom"
        point["error"] = str(exc).splitlines()[0][:300]
    except Exception as exc:  # record and go on: one bad point must not lose the run
        point["status"] = "error"
        point["error"] = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        del out, ids
        gc.collect()
        torch.cuda.empty_cache()
    return point


def sdpa_backend_with_mask(torch: Any, config: Any) -> str | None:
    """The kernel torch's SDPA picks for a sliding layer's call as transformers makes it.

    Query transposed from (B, S, H, D), K/V already `repeat_kv`'d to every head (no GQA with a
    mask), an explicit boolean (B, 1, Q, K) mask.
    """
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    seq = 256
    query = torch.zeros(1, seq, heads, head_dim, dtype=torch.bfloat16, device="cuda")
    query = query.transpose(1, 2)
    key = torch.zeros(1, heads, seq, head_dim, dtype=torch.bfloat16, device="cuda")
    mask = torch.ones(seq, seq, dtype=torch.bool, device="cuda").tril()[None, None]
    try:
        choice = torch._fused_sdp_choice(query, key, key, attn_mask=mask)
    except Exception as exc:  # private API: record why rather than fail the run
        return f"unknown ({type(exc).__name__})"
    names = {int(v): k for k, v in torch.nn.attention.SDPBackend.__members__.items()}
    return names.get(int(choice), str(choice))


def sdpa_settings(torch: Any) -> dict[str, Any]:
    cuda = torch.backends.cuda
    return {
        "flash_sdp_enabled": cuda.flash_sdp_enabled(),
        "mem_efficient_sdp_enabled": cuda.mem_efficient_sdp_enabled(),
        "cudnn_sdp_enabled": cuda.cudnn_sdp_enabled(),
        "math_sdp_enabled": cuda.math_sdp_enabled(),
        "cudnn_version": torch.backends.cudnn.version(),
    }


def build_model(
    torch: Any, transformers: Any, case: Case, catalog: dict[str, dict[str, Any]]
) -> tuple[Any, dict[str, Any]]:
    raw = dict(catalog[case.model_id]["config"])
    if case.num_hidden_layers is not None:
        raw["num_hidden_layers"] = case.num_hidden_layers
    model_type = raw.pop("model_type")
    raw.pop("architectures", None)
    raw.pop("torch_dtype", None)
    config = transformers.AutoConfig.for_model(model_type, **raw)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.eval()
    torch.cuda.synchronize()
    return model, {"model_type": model_type, **raw}


def run_case(
    torch: Any,
    transformers: Any,
    case: Case,
    catalog: dict[str, dict[str, Any]],
    handle: Any,
    used_before_init: int,
    quick: bool,
) -> dict[str, Any]:
    result: dict[str, Any] = {"model_id": case.model_id, "why": case.why, "points": []}
    gc.collect()
    torch.cuda.empty_cache()
    base_alloc = torch.cuda.memory_allocated()
    model = None
    try:
        started = time.perf_counter()
        model, config = build_model(torch, transformers, case, catalog)
        result["config"] = config
        result["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
        result["layer_types"] = getattr(model.config, "layer_types", None)
        result["load_s"] = round(time.perf_counter() - started, 2)
        result["weights_bytes"] = torch.cuda.memory_allocated() - base_alloc
        result["parameter_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
        result["buffer_bytes"] = sum(b.numel() * b.element_size() for b in model.buffers())
        result["parameter_count"] = sum(p.numel() for p in model.parameters())
        result["sdpa_backend_with_mask"] = sdpa_backend_with_mask(torch, model.config)
        vocab = int(config.get("vocab_size") or model.config.vocab_size)
        points = case.points[:1] if quick else case.points
        for batch, seq in points:
            point = measure_point(torch, model, handle, vocab, batch, seq)
            point["non_torch_bytes"] = (
                point["nvml_used_bytes"] - used_before_init - point["reserved_after_bytes"]
                if point.get("status") == "ok"
                else None
            )
            result["points"].append(point)
            print(f"  {case.model_id} b={batch} s={seq}: {point['status']}", flush=True)
        result["status"] = "ok"
    except Exception as exc:
        result["status"] = "error"
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["traceback"] = traceback.format_exc()[-2000:]
        print(f"  {case.model_id}: {result['error']}", flush=True)
    finally:
        del model
        gc.collect()
        torch.cuda.empty_cache()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first point of each model only")
    parser.add_argument(
        "--models", default="", help="comma-separated substrings of model ids to run"
    )
    parser.add_argument("--out", default="", help="output file (default bench/results/...)")
    args = parser.parse_args()

    pynvml.nvmlInit()
    index = int(os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or 0)
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    gpu_name = pynvml.nvmlDeviceGetName(handle)
    gpu_name = gpu_name.decode() if isinstance(gpu_name, bytes) else gpu_name
    driver = pynvml.nvmlSystemGetDriverVersion()
    driver = driver.decode() if isinstance(driver, bytes) else driver
    mem = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    used_before_init = int(mem.used)

    import torch  # imported only now: NVML's "before" reading must precede any CUDA work
    import transformers

    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    used_after_init = nvml_used_bytes(handle)
    context_bytes = used_after_init - used_before_init - torch.cuda.memory_reserved()
    major, minor = torch.cuda.get_device_capability()

    catalog = load_catalog()
    wanted = [s for s in args.models.split(",") if s]
    cases = [c for c in CASES if not wanted or any(w.lower() in c.model_id.lower() for w in wanted)]
    started = time.perf_counter()
    runs = []
    for case in cases:
        print(f"{case.model_id}", flush=True)
        runs.append(
            run_case(torch, transformers, case, catalog, handle, used_before_init, args.quick)
        )

    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "gpu_name": gpu_name,
        "compute_capability": f"{major}.{minor}",
        "driver_version": driver,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
        "memory_total_bytes": int(mem.total),
        "memory_reserved_by_driver_bytes": int(mem.reserved),
        "nvml_used_before_init_bytes": used_before_init,
        "nvml_used_after_init_bytes": used_after_init,
        "cuda_context_bytes": context_bytes,
        "process_used_after_init_bytes": process_used_bytes(handle),
        "sdpa": sdpa_settings(torch),
        "method": "prefill forward, use_cache=True, logits_to_keep=1, bf16 random weights",
        "total_s": round(time.perf_counter() - started, 1),
        "models": runs,
    }
    slug = "h100" if "H100" in gpu_name else re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-")
    out = Path(args.out) if args.out else RESULTS / f"vram_validation-{report['date']}-{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    failed = sum(1 for r in runs for p in r["points"] if p["status"] != "ok") + sum(
        1 for r in runs if r["status"] != "ok"
    )
    print(
        f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(runs)} models, "
        f"{failed} failures, {report['total_s']} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
