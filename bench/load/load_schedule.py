"""Busy and idle phases shared by the load generators, aligned on one wall-clock epoch.

Every generator started by `run_load.sh` gets the same `--epoch`: before it, all are idle (they
load and allocate); after it, time runs in cycles of `cycle_s` seconds and a generator is busy
from `offset_s` to `offset_s + busy_s` of each cycle. With the same cycle and nested busy
windows the GPU sees periods where everyone is busy and periods where everyone is idle.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    epoch: float  # wall-clock seconds
    cycle_s: float
    busy_s: float
    offset_s: float
    end: float  # wall-clock seconds after which the generator exits

    def is_busy(self, now: float) -> bool:
        if now < self.epoch:
            return False
        position = (now - self.epoch - self.offset_s) % self.cycle_s
        return position < self.busy_s

    def finished(self, now: float) -> bool:
        return now >= self.end


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epoch", type=float, default=None, help="wall-clock time the phases start (default: now)"
    )
    parser.add_argument("--cycle-s", type=float, default=60.0)
    parser.add_argument(
        "--busy-s",
        type=float,
        default=30.0,
        help="busy seconds per cycle (equal to --cycle-s: always busy)",
    )
    parser.add_argument("--offset-s", type=float, default=0.0)
    parser.add_argument(
        "--duration-s",
        type=float,
        default=300.0,
        help="exit this many seconds after start (a bound, never unlimited)",
    )


def schedule_from_arguments(args: argparse.Namespace) -> Schedule:
    now = time.time()
    if not 0 < args.cycle_s <= 3600:
        raise SystemExit(f"--cycle-s must be in (0, 3600], got {args.cycle_s}")
    if not 0 <= args.busy_s <= args.cycle_s:
        raise SystemExit(f"--busy-s must be in [0, --cycle-s={args.cycle_s}], got {args.busy_s}")
    if not 0 < args.duration_s <= 3600:
        raise SystemExit(f"--duration-s must be in (0, 3600], got {args.duration_s}")
    return Schedule(
        epoch=now if args.epoch is None else args.epoch,
        cycle_s=args.cycle_s,
        busy_s=args.busy_s,
        offset_s=args.offset_s,
        end=now + args.duration_s,
    )
