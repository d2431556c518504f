"""A bounded load of completions against an OpenAI-compatible server, in busy and idle phases.

    PYTHONPATH=bench/load python3 bench/load/completions_load.py --url http://127.0.0.1:8000 \
        --model Qwen/Qwen2.5-1.5B-Instruct --concurrency 8 --duration-s 200

In busy phases (see `load_schedule`) `--concurrency` workers send completions back to back:
prompts of `--prompt-tokens` random token ids, `--max-tokens` generated with `ignore_eos`, so
each request's token counts are fixed. Idle phases send
nothing. Every `--report-s` seconds, and at the end, it prints the requests and tokens the server
reported back (the `usage` of each answer): a count to hold the engine's own counters to.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import threading
import time
import urllib.request

from load_schedule import Schedule, add_schedule_arguments, schedule_from_arguments

REQUEST_TIMEOUT_S = 60.0
FIRST_TOKEN_ID = 10


class Totals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def add(self, usage: dict | None) -> None:
        with self._lock:
            if usage is None:
                self.failed += 1
                return
            self.requests += 1
            self.prompt_tokens += int(usage.get("prompt_tokens", 0))
            self.completion_tokens += int(usage.get("completion_tokens", 0))

    def line(self) -> str:
        with self._lock:
            return json.dumps(
                {
                    "at": round(time.time(), 3),
                    "requests": self.requests,
                    "failed": self.failed,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens,
                }
            )


def send(url: str, body: dict) -> dict | None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return json.loads(response.read()).get("usage")
    except (OSError, ValueError):
        return None


def worker(
    index: int, args: argparse.Namespace, schedule: Schedule, totals: Totals, stop: threading.Event
) -> None:
    pick = random.Random(index)
    url = f"{args.url}/v1/completions"
    while not stop.is_set() and not schedule.finished(time.time()):
        if not schedule.is_busy(time.time()):
            stop.wait(0.1)
            continue
        # token ids, not text: the dummy tokenizer's words do not survive every model type
        prompt = [pick.randrange(FIRST_TOKEN_ID, args.vocab_ids) for _ in range(args.prompt_tokens)]
        body = {
            "model": args.model,
            "prompt": prompt,
            "max_tokens": args.max_tokens,
            "ignore_eos": True,
            "temperature": 0,
        }
        totals.add(send(url, body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True, help="the server's served model name")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--vocab-ids", type=int, default=1000)
    parser.add_argument("--report-s", type=float, default=10.0)
    add_schedule_arguments(parser)
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 64:
        raise SystemExit(f"--concurrency must be in 1..64, got {args.concurrency}")
    schedule = schedule_from_arguments(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    totals = Totals()
    threads = [
        threading.Thread(target=worker, args=(i, args, schedule, totals, stop), daemon=True)
        for i in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    print(f"completions load ready: {args.concurrency} workers on {args.url}", flush=True)
    while not stop.is_set() and not schedule.finished(time.time()):
        stop.wait(args.report_s)
        print(totals.line(), flush=True)
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_S)
    print(totals.line(), flush=True)


if __name__ == "__main__":
    main()
