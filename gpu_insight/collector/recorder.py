"""Records published snapshots as a trace (JSON lines, one Snapshot per line) for replay.

`python -m gpu_insight.collector.recorder downsample IN OUT --every-s 5` thins a long trace
so that it is small enough to ship.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TextIO

from gpu_insight.schemas import Snapshot


class SnapshotRecorder:
    """A store listener appending every snapshot to a file, flushed line by line."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._file: TextIO | None = Path(path).open("a", encoding="utf-8")  # noqa: SIM115

    def __call__(self, snapshot: Snapshot) -> None:
        line = snapshot.model_dump_json(exclude_none=True)
        with self._lock:
            if self._file is None:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def downsample_trace(source: Path, target: Path, every_s: float) -> tuple[int, int]:
    """Keeps the first snapshot of each `every_s` window; returns (lines read, lines kept)."""
    if every_s <= 0:
        raise ValueError(f"every_s must be greater than 0, got {every_s}")
    read = kept = 0
    next_at = float("-inf")
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for line in lines:
            if not line.strip():
                continue
            read += 1
            snapshot = Snapshot.model_validate_json(line)
            if snapshot.collected_at >= next_at:
                out.write(snapshot.model_dump_json(exclude_none=True) + "\n")
                kept += 1
                next_at = snapshot.collected_at + every_s
    return read, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_insight.collector.recorder")
    commands = parser.add_subparsers(dest="command", required=True)
    thin = commands.add_parser("downsample", help="keep one snapshot per interval")
    thin.add_argument("source", type=Path)
    thin.add_argument("target", type=Path)
    thin.add_argument("--every-s", type=float, default=5.0, help="interval in seconds (> 0)")
    args = parser.parse_args(argv)
    try:
        read, kept = downsample_trace(args.source, args.target, args.every_s)
    except (OSError, ValueError) as exc:
        print(f"downsample: {exc}", file=sys.stderr)
        return 2
    print(f"kept {kept} of {read} snapshots in {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
