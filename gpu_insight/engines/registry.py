"""The one table of serving engines: every engine in `schemas.KnownEngine`, looked up by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from gpu_insight.engines.facts import ServingEngine, Setting
from gpu_insight.engines.gguf import LLAMA_CPP, OLLAMA
from gpu_insight.engines.sglang import SGLANG
from gpu_insight.engines.tgi import TGI
from gpu_insight.engines.transformers import TRANSFORMERS
from gpu_insight.engines.vllm import VLLM
from gpu_insight.schemas import KnownEngine

ENGINES: tuple[KnownEngine, ...] = get_args(KnownEngine)
DEFAULT_ENGINE: KnownEngine = "vllm"
REGISTRY: Mapping[KnownEngine, ServingEngine] = {
    e.name: e for e in (VLLM, SGLANG, TRANSFORMERS, TGI, OLLAMA, LLAMA_CPP)
}
if tuple(REGISTRY) != ENGINES:
    raise ImportError(f"the engine registry {tuple(REGISTRY)} must list {ENGINES} in order")


def engine(name: KnownEngine) -> ServingEngine:
    return REGISTRY[name]


def find(name: str | None) -> ServingEngine | None:
    """The engine of that name (the default engine when none is named); None if unknown."""
    return REGISTRY.get(name or DEFAULT_ENGINE)  # type: ignore[call-overload]


def fills_gpu_memory(name: str) -> bool:
    """Whether the engine of that name takes most of the GPU on purpose, so the memory its
    processes hold is reserved by design (not a leak); False for an unknown engine."""
    served = REGISTRY.get(name)  # type: ignore[call-overload]
    return served is not None and served.fills_gpu_memory


def flag(name: str | None, setting: Setting, value: object = None) -> str | None:
    """The flag for a setting on an engine (the default engine when none is named), or None
    when the engine is unknown or has no such flag."""
    found = find(name)
    return found.flag(setting, value) if found is not None else None
