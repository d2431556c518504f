"""Hugging Face transformers called from a script: no command line, no reservation, no batching.

It is told nothing by flag (the script passes `from_pretrained` arguments), grows its cache
with each request, and keeps fp32 checkpoints in fp32.
"""

from __future__ import annotations

from gpu_insight.engines.facts import ServingEngine, Start

TRANSFORMERS = ServingEngine(
    name="transformers",
    label="transformers",
    flags={},
    kv_cache_dtypes={},
    quantizations={},
    starts=(Start("transformers", subcommands=("serve", "chat"), model_positional=True),),
    model_server=False,
    continuous_batching=False,
    keeps_fp32_weights=True,
)
