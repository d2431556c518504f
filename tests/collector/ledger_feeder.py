"""Feeds a usage ledger 150 s of samples in fast-forwarded time, then waits to be killed.

`python -m tests.collector.ledger_feeder DB_PATH START_T`: samples at START_T, START_T + 1, …,
START_T + 150 (`shared_gpu_snapshot`), prints "fed" and sleeps without closing the ledger.
"""

from __future__ import annotations

import sys
import time

from gpu_insight.collector.accounting import UsageLedger
from gpu_insight.collector.config import AccountingConfig
from tests.collector.synthetic import shared_gpu_snapshot

FED_SECONDS = 150


def main(db_path: str, start_t: float) -> None:
    ledger = UsageLedger(AccountingConfig(db_path=db_path), clock=lambda: start_t)
    for second in range(FED_SECONDS + 1):
        ledger.add(shared_gpu_snapshot(start_t + second))
    print("fed", flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
