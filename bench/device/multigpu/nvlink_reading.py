"""NVLink and remapped rows as the collector reads them, beside nvidia-smi (issue 18 §5).

    python3 bench/device/multigpu/nvlink_reading.py --out DIR

Two samples of the collector's own NVML backend (the second with every link's "not supported"
already remembered): per GPU its links with state and replay/recovery/CRC counters, whether one
is active, and its remapped rows; how long each slow tier took. Then `nvidia-smi nvlink
--status` and `nvidia-smi --query-remapped-rows` for the same GPUs. Verdicts: per GPU the
collector's active links are nvidia-smi's, and so are the remapped rows. DIR receives
nvlink.json and the two nvidia-smi outputs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_insight.collector.backends.nvml import NvmlBackend
from gpu_insight.collector.config import SamplingConfig
from gpu_insight.collector.runtime import SelfMetrics

REMAPPED_ROWS_QUERY = (
    "gpu_bus_id,remapped_rows.correctable,remapped_rows.uncorrectable,"
    "remapped_rows.pending,remapped_rows.failure"
)
_GPU_LINE = re.compile(r"^GPU (\d+):")
_LINK_LINE = re.compile(r"^\s*Link (\d+): (.+?)\s*$")


def active_links_by_gpu(status_text: str) -> dict[int, list[int]]:
    """`nvidia-smi nvlink --status`: per GPU index, the links shown with a speed (active);
    a link shown `<inactive>` is down."""
    links: dict[int, list[int]] = {}
    gpu: int | None = None
    for line in status_text.splitlines():
        if match := _GPU_LINE.match(line):
            gpu = int(match[1])
            links[gpu] = []
        elif (
            (match := _LINK_LINE.match(line))
            and gpu is not None
            and "inactive" not in match[2].lower()
        ):
            links[gpu].append(int(match[1]))
    return links


def remapped_rows(csv_text: str) -> list[dict[str, Any]]:
    """`nvidia-smi --query-remapped-rows=…` rows in GPU order (NVML's, by PCI bus)."""
    out = []
    for line in csv_text.strip().splitlines():
        bus, correctable, uncorrectable, pending, failure = (v.strip() for v in line.split(","))
        out.append(
            {
                "pci_bus_id": bus,
                "correctable": _count(correctable),
                "uncorrectable": _count(uncorrectable),
                "pending": _flag(pending),
                "failure": _flag(failure),
            }
        )
    return out


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _flag(text: str) -> bool | None:
    return {"yes": True, "no": False, "1": True, "0": False}.get(text.lower())


def collector_reading(nvml: Any = None) -> dict[str, Any]:
    """The NVML backend's fast and slow tiers, twice; the second slow tier is the steady one."""
    backend = NvmlBackend(SamplingConfig(), SelfMetrics(), nvml=nvml)
    try:
        fast = backend.sample_fast(time.time())
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            slow = backend.sample_slow(time.time())
            timings.append(round((time.perf_counter() - started) * 1000, 3))
    finally:
        backend.close()
    gpus = []
    for gpu in fast.gpus:
        reading = slow.gpus.get(gpu.uuid)
        links = reading.nvlinks if reading is not None else None
        gpus.append(
            {
                "index": gpu.index,
                "pci_bus_id": gpu.pci_bus_id,
                "nvlinks": None if links is None else [link.model_dump() for link in links],
                "active_links": None if links is None else [x.link for x in links if x.active],
                "remapped_rows": None
                if reading is None
                else {
                    "correctable": reading.remapped_rows_correctable,
                    "uncorrectable": reading.remapped_rows_uncorrectable,
                    "pending": reading.remapped_rows_pending,
                    "failure": reading.remapped_rows_failure,
                },
            }
        )
    return {"down_reason": fast.down_reason, "slow_tier_ms": timings, "gpus": gpus}


def verdicts(
    collector: dict[str, Any], smi_links: dict[int, list[int]], smi_rows: list[dict[str, Any]]
) -> dict[str, bool]:
    ours = {gpu["index"]: gpu for gpu in collector["gpus"]}
    rows = {row["pci_bus_id"].lower(): row for row in smi_rows}
    same_rows = []
    for gpu in collector["gpus"]:
        theirs, mine = rows.get((gpu["pci_bus_id"] or "").lower()), gpu["remapped_rows"]
        if theirs is not None and mine is not None:
            same_rows.append({key: theirs[key] for key in mine} == mine)
    return {
        "active_links_match_nvidia_smi": bool(smi_links)
        and all(sorted(ours[i]["active_links"] or []) == links for i, links in smi_links.items()),
        "remapped_rows_match_nvidia_smi": bool(same_rows) and all(same_rows),
    }


def nvidia_smi(*args: str) -> str:
    completed = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=60)
    return completed.stdout if completed.returncode == 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    collector = collector_reading()
    status = nvidia_smi("nvlink", "--status")
    rows_csv = nvidia_smi(f"--query-remapped-rows={REMAPPED_ROWS_QUERY}", "--format=csv,noheader")
    (args.out / "nvidia-smi-nvlink-status.txt").write_text(status)
    (args.out / "nvidia-smi-remapped-rows.csv").write_text(rows_csv)
    smi_links, smi_rows = active_links_by_gpu(status), remapped_rows(rows_csv)
    checked = verdicts(collector, smi_links, smi_rows)
    report = {
        "date": dt.date.today().isoformat(),
        "collector": collector,
        "nvidia_smi": {"active_links": smi_links, "remapped_rows": smi_rows},
        "verdicts": checked,
    }
    (args.out / "nvlink.json").write_text(json.dumps(report, indent=1))
    for gpu in collector["gpus"]:
        print(
            f"GPU {gpu['index']}: active links {gpu['active_links']}, "
            f"remapped rows {gpu['remapped_rows']}"
        )
    print(f"slow tier {collector['slow_tier_ms']} ms; verdicts {checked}", flush=True)
    return 0 if all(checked.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
