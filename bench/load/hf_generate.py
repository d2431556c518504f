"""A plain transformers load: a model's architecture from its config, random bf16 weights.

No download: `--model` names one of the architectures below, whose published config is built
with `LlamaConfig` on the GPU and filled with random weights. Busy phases call
`model.generate` in a loop; idle phases sleep (see `load_schedule`). Its footprint (~2.2 GB of
weights plus the generation cache) differs from the vLLM-shaped server's.

    PYTHONPATH=bench/load python3 bench/load/hf_generate.py \
        --model TinyLlama/TinyLlama-1.1B-Chat-v1.0 --duration-s 200
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import torch
from load_schedule import Schedule, add_schedule_arguments, schedule_from_arguments
from transformers import LlamaConfig, LlamaForCausalLM

BATCH = 8
PROMPT_TOKENS = 256
NEW_TOKENS = 64


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [hf-generate] {message}", flush=True)


# Published configs (config.json on the Hugging Face Hub) of small Llama-architecture models.
ARCHITECTURES = {
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": {
        "vocab_size": 32000,
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
    },
}


def build_model(model: str) -> LlamaForCausalLM:
    config = LlamaConfig(**ARCHITECTURES[model])
    # Built directly on the GPU in bf16: random init of ~1 B parameters on the CPU is slow.
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            built = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous_dtype)
    return built.eval()


def run(model: LlamaForCausalLM, schedule: Schedule) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    prompt = torch.randint(3, model.config.vocab_size, (BATCH, PROMPT_TOKENS), device="cuda")
    attention_mask = torch.ones_like(prompt)
    busy_before = False
    rounds = 0
    while not stop.is_set() and not schedule.finished(time.time()):
        busy = schedule.is_busy(time.time())
        if busy != busy_before:
            log("busy phase" if busy else "idle phase")
            busy_before = busy
        if not busy:
            stop.wait(0.1)
            continue
        with torch.inference_mode():
            model.generate(
                input_ids=prompt,
                attention_mask=attention_mask,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,  # random weights would stop at any eos otherwise
                do_sample=False,
                pad_token_id=0,
            )
        rounds += 1
    log(f"done after {rounds} generate() rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        choices=sorted(ARCHITECTURES),
        help="architecture to build",
    )
    add_schedule_arguments(parser)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("hf_generate: no CUDA device is visible (this load generator needs one GPU)")
    schedule = schedule_from_arguments(args)
    model = build_model(args.model)
    parameters = sum(p.numel() for p in model.parameters())
    log(
        f"{args.model} architecture, random weights: {parameters / 1e9:.2f} B parameters; "
        f"{torch.cuda.memory_allocated() / 2**30:.2f} GiB allocated; generate loop ready"
    )
    run(model, schedule)


if __name__ == "__main__":
    main()
