"""The rule table: each rule looks at a Situation and yields Suggestions with its evidence.

- serve-with-an-engine: a plain transformers process serves a model
- weights-do-not-fit: 16-bit weights exceed the roomiest GPU's free memory
- kv-cache-below-context: the KV budget holds fewer tokens than the model's context
- utilization-exceeds-free: a planned vLLM/SGLang memory fraction exceeds free memory
- tensor-parallel / pipeline-parallel / data-parallel-replicas: how to use several GPUs
- kv-cache-pressure: preemptions, or KV cache >= 95 % with requests waiting
- shared-gpu: two or more model servers on one GPU, fractions unknown or summing > 0.95
- busy-but-slow: GPU >= 90 % busy, < 5 tokens/s per running request
- starved-while-waiting: GPU < 30 % busy with requests waiting and the KV cache not full
- idle-gpu-holding-memory: GPU <= 5 % busy holding >= 20 % of its memory, no traffic
- memory-near-full: >= 95 % of memory used without a preallocating engine
- thermal-or-power-throttling: thermal or power-brake clock events, or near slowdown
- gpu-errors: XID or uncorrected ECC errors, or a GPU not healthy

Each suggestion names its source; thresholds are constants at the top of each rules module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gpu_insight.advise import rules_health, rules_load, rules_memory
from gpu_insight.advise.suggestion import Situation, Suggestion

Rule = Callable[[Situation], Iterator[Suggestion]]

RULES: tuple[Rule, ...] = (
    rules_load.serve_with_an_engine,
    rules_memory.weights_do_not_fit,
    rules_memory.kv_cache_below_context,
    rules_memory.utilization_exceeds_free,
    rules_memory.parallelism,
    rules_memory.kv_cache_pressure,
    rules_memory.shared_gpu,
    rules_load.busy_but_slow,
    rules_load.starved_while_waiting,
    rules_load.idle_gpu_holding_memory,
    rules_load.memory_near_full,
    rules_health.throttling,
    rules_health.hardware_errors,
)
