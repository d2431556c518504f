"""Each serving engine's memory plan for one GPU of a placement.

`plan()` returns the per-GPU breakdown, what the engine needs for the requested context ×
concurrency, what it will *hold* (vLLM and SGLang reserve a fraction of total memory up front,
TGI fills all but 10 % of total with KV blocks), the largest context that fits, the engine flags
(rendered by `gpu_insight.engines`) and the startup failures it predicts, quoting the engine's
own error text. One module per engine family; `common` holds what they share.
"""

from __future__ import annotations

from collections.abc import Mapping

from gpu_insight.estimate.plans import gguf, sglang, tgi, transformers, vllm
from gpu_insight.estimate.plans.common import GpuTarget, Plan, Planner, Settings, kv_for
from gpu_insight.schemas import KnownEngine

__all__ = ["PLANNERS", "GpuTarget", "Plan", "Settings", "kv_for", "plan"]

PLANNERS: Mapping[KnownEngine, Planner] = {
    "vllm": vllm.plan,
    "sglang": sglang.plan,
    "transformers": transformers.plan,
    "tgi": tgi.plan,
    "ollama": gguf.plan,
    "llama.cpp": gguf.plan,
}


def plan(s: Settings, gpu: GpuTarget | None) -> Plan:
    return PLANNERS[s.engine](s, gpu)
