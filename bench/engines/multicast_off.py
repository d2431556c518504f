"""NVLink multicast (NVLS) off, in every process a benchmark starts on a multi-GPU host.

A program that uses multicast can put a shared host's GPUs out of service for a day or more,
so NCCL, PyTorch and NVSHMEM are told not to, and so are vLLM's own symmetric-memory
all-reduce paths (which would reach it through PyTorch and NCCL). This is the one list;
`vllm_server.ENVIRONMENT` carries it into every vLLM server, `with_multicast_off` into any
other child, and shell scripts take it with

    eval "$(python3 bench/engines/multicast_off.py)"
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

MULTICAST_OFF: dict[str, str] = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
    "VLLM_ALLREDUCE_USE_SYMM_MEM": "0",
    "VLLM_USE_NCCL_SYMM_MEM": "0",
}


def missing(environ: Mapping[str, str]) -> list[str]:
    """The settings `environ` lacks or gives another value, as NAME=VALUE."""
    return [f"{name}={want}" for name, want in MULTICAST_OFF.items() if environ.get(name) != want]


def require(environ: Mapping[str, str] = os.environ) -> None:
    """Stops a multi-GPU run whose own environment does not keep multicast off."""
    absent = missing(environ)
    if absent:
        raise SystemExit(
            "NVLink multicast must be off in every process of a multi-GPU run; missing "
            f'{" ".join(absent)} (eval "$(python3 bench/engines/multicast_off.py)" first)'
        )


def with_multicast_off(environ: Mapping[str, str]) -> dict[str, str]:
    return {**environ, **MULTICAST_OFF}


def exports() -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in MULTICAST_OFF.items())


if __name__ == "__main__":
    print(exports(), end="")
