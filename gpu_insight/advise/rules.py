"""The rule table: each rule looks at a Situation and yields Suggestions with its evidence.

Model and deployment (memory):
- serve-with-an-engine: a plain transformers process serves a model
- weights-do-not-fit: 16-bit weights exceed the roomiest GPU's free memory
- kv-cache-below-context: the KV budget holds fewer tokens than the model's context
- utilization-exceeds-free: a planned vLLM/SGLang memory fraction exceeds free memory
- tensor-parallel / pipeline-parallel / data-parallel-replicas: how to use several GPUs
- moe-experts: a planned MoE model's experts do not fit one GPU: expert parallel or offload
- vision-image-budget: a vision model without an image budget (images and pixels per request)
- kv-cache-pressure: preemptions, or KV cache >= 95 % with requests waiting
- enforce-eager-for-kv: KV cache full, no memory left: CUDA graphs traded for KV cache
- shared-gpu: two or more model servers on one GPU, fractions unknown or summing > 0.95
- cuda-mps: small model servers sharing a mostly idle GPU
- engine-reserved-memory: a memory alert on a GPU an engine reserved on purpose (not a leak)
- memory-near-full: >= 95 % of memory used without a preallocating engine
Ollama and llama.cpp:
- ollama-cpu-offload: part of a loaded model runs on the CPU (size_vram < size)
- ollama-duplicate-model: one model loaded more than once (different context lengths)
- ollama-reload-churn: a model loaded again and again within the hour
- parallel-slots-full: every slot busy with requests waiting
Load and latency:
- busy-but-slow: GPU >= 90 % busy, < 5 tokens/s per running request
- starved-while-waiting: GPU < 30 % busy with requests waiting and the KV cache not full
- slow-but-gpu-idle: requests in flight, none waiting, GPU < 30 % busy: the wait is elsewhere
- prefix-caching: prefix caching off, or few hits on long prompts
- long-prompt-prefill: long prompts queue and wait long for their first token
- autoscale-replicas: a model's replicas are busy with a queue: scale on it
- idle-gpu-holding-memory: GPU <= 5 % busy holding >= 20 % of its memory, no traffic
Cost (the usage books, focus cost):
- idle-but-held-cost: an app held GPUs idle: GPU-hours and cost per day and month
- consolidate-gpus: a host's models fit on fewer GPUs
- right-size-gpu: a GPU larger than its models need: the cheapest type that holds them
Hardware:
- thermal-or-power-throttling: thermal or power-brake clock events, or near slowdown
- gpu-errors: XID or uncorrected ECC errors, or a GPU not healthy

Each suggestion names its source; thresholds are constants at the top of each rules module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gpu_insight.advise import (
    rules_cost,
    rules_gguf,
    rules_health,
    rules_load,
    rules_memory,
    rules_tuning,
)
from gpu_insight.advise.suggestion import Situation, Suggestion

Rule = Callable[[Situation], Iterator[Suggestion]]

RULES: tuple[Rule, ...] = (
    rules_load.serve_with_an_engine,
    rules_memory.weights_do_not_fit,
    rules_memory.kv_cache_below_context,
    rules_memory.utilization_exceeds_free,
    rules_memory.parallelism,
    rules_tuning.moe_experts,
    rules_tuning.vision_image_budget,
    rules_memory.kv_cache_pressure,
    rules_tuning.enforce_eager_for_kv,
    rules_memory.shared_gpu,
    rules_tuning.cuda_mps,
    rules_load.engine_reserved_memory,
    rules_gguf.ollama_cpu_offload,
    rules_gguf.ollama_duplicate_models,
    rules_gguf.ollama_reload_churn,
    rules_gguf.parallel_slots_full,
    rules_load.busy_but_slow,
    rules_load.starved_while_waiting,
    rules_load.slow_but_gpu_idle,
    rules_tuning.prefix_caching,
    rules_tuning.long_prompt_prefill,
    rules_tuning.autoscale_replicas,
    rules_load.idle_gpu_holding_memory,
    rules_load.memory_near_full,
    rules_cost.idle_but_held_cost,
    rules_cost.consolidate_gpus,
    rules_cost.right_size_gpu,
    rules_health.throttling,
    rules_health.hardware_errors,
)
