"""Side-by-side: our transformers estimate and three common methods against H100 measurements.

    python3 bench/compare_estimators.py [bench/results/vram_validation-<date>-h100.json]

Prints a markdown table (GiB; error vs measured in parentheses). Methods, as each documents
itself: hf-mem = parameter bytes + its experimental KV formula (sliding layers hold
min(window, tokens)), no runtime overheads; accelerate estimate-memory = fp32 parameter size
divided by the dtype factor, no KV; "×1.2" = weights × 1.2 (Substratus / accelerate-doc rule);
measured = peak allocated + the process's non-torch memory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_insight.estimate import VramRequest  # noqa: E402
from gpu_insight.estimate.kv_cache import kv_layout  # noqa: E402
from gpu_insight.estimate.plans import plan  # noqa: E402
from gpu_insight.estimate.resolve import settings_for  # noqa: E402
from gpu_insight.estimate.spec import from_hf_config  # noqa: E402
from gpu_insight.estimate.weights import parameter_count  # noqa: E402

GIB = 2**30


def cell(value: float, measured: float) -> str:
    return f"{value / GIB:.2f} ({(value - measured) / measured * 100:+.0f} %)"


def rows(report: dict[str, Any]) -> list[str]:
    out = []
    for model in report["models"]:
        if model["status"] != "ok":
            continue
        spec = from_hf_config(model["config"], model["model_id"])
        params = parameter_count(spec).total
        for point in model["points"]:
            if point["status"] != "ok":
                continue
            batch, seq = point["batch"], point["seq_len"]
            measured = point["peak_allocated_bytes"] + point["non_torch_bytes"]
            request = VramRequest(
                model_config_json=model["config"],
                engine="transformers",
                quantization="bf16",
                context_length=seq,
                concurrency=batch,
            )
            ours = plan(settings_for(request, spec, 1), None).need_mib * 2**20
            hf_mem = params * 2 + kv_layout(spec, 2).sequence_bytes(seq) * batch
            accelerate = params * 4 / 2
            rule = params * 2 * 1.2
            out.append(
                f"| {model['model_id'].split('/')[-1]} | {batch}×{seq} | {cell(ours, measured)} | "
                f"{cell(hf_mem, measured)} | {cell(accelerate, measured)} | "
                f"{cell(rule, measured)} | {measured / GIB:.2f} |"
            )
    return out


def main() -> int:
    files = sorted((ROOT / "bench" / "results").glob("vram_validation-*-h100.json"))
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else files[-1]
    report = json.loads(path.read_text())
    print(
        f"Measured on {report['gpu_name']}, driver {report['driver_version']}, torch "
        f"{report['torch_version']}, transformers {report['transformers_version']} "
        f"({report['date']}); GiB, error vs measured.\n"
    )
    print(
        "| model | batch×seq | ours | hf-mem method | accelerate estimate-memory | ×1.2 rule "
        "| measured |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
