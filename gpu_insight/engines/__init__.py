"""One registry of serving engines (vLLM, SGLang, TGI, Ollama, llama.cpp, transformers).

Per engine: the flag for each setting, its defaults, its traits and how its processes look. The
estimator's memory plans, the advice rules and the collector's process attribution all read it;
nothing else writes an engine's flag or trait down. Pure data and string rendering: no I/O.
"""

from __future__ import annotations

from gpu_insight.engines.facts import SETTINGS, Launch, ServingEngine, Setting, Start
from gpu_insight.engines.registry import (
    DEFAULT_ENGINE,
    ENGINES,
    REGISTRY,
    engine,
    fills_gpu_memory,
    find,
    flag,
)

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "REGISTRY",
    "SETTINGS",
    "Launch",
    "ServingEngine",
    "Setting",
    "Start",
    "engine",
    "fills_gpu_memory",
    "find",
    "flag",
]
