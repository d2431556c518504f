"""One scrape of one engine, reduced to the numbers GPU Insight uses (pure parsers).

Metric names, from each engine's documentation:

- vLLM `/metrics` (vllm/v1/metrics/loggers.py), as vLLM 0.24.0 exposes it
  (`tests/collector/engine_fixtures/vllm-0.24.0/`): `vllm:num_requests_running`,
  `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` (older: `vllm:gpu_cache_usage_perc`;
  both are 0–1 ratios), `vllm:num_preemptions_total`, `vllm:prompt_tokens_total`,
  `vllm:generation_tokens_total`, `vllm:request_success_total`, `vllm:prefix_cache_queries_total`
  and `vllm:prefix_cache_hits_total` (tokens), histograms `vllm:time_to_first_token_seconds`,
  `vllm:e2e_request_latency_seconds` and `vllm:request_queue_time_seconds`,
  `vllm:cache_config_info{gpu_memory_utilization, kv_cache_size_tokens (the KV pool; older
  releases: num_gpu_blocks × block_size), enable_prefix_caching}`; before V1 also
  `vllm:num_requests_swapped`. `/v1/models` adds `max_model_len`, `/version` the version
  (`{"version": "0.24.0"}`).
- SGLang `/metrics` (needs `--enable-metrics`; python/sglang/srt/metrics/collector.py):
  `sglang:num_running_reqs`, `sglang:num_queue_reqs`, `sglang:token_usage`,
  `sglang:cache_hit_rate`, `sglang:max_total_num_tokens` (the KV pool),
  `sglang:prompt_tokens_total`, `sglang:generation_tokens_total`, `sglang:num_requests_total`
  and `sglang:num_retracted_requests_total` (newer), histograms
  `sglang:time_to_first_token_seconds`, `sglang:e2e_request_latency_seconds`,
  `sglang:queue_time_seconds`.
- llama.cpp `llama-server --metrics` (tools/server/server-task.cpp, `to_metrics`), as
  llama.cpp 0c1e57098 exposes it (`tests/collector/engine_fixtures/llama.cpp-0c1e57098/`):
  `llamacpp:prompt_tokens_total`, `llamacpp:tokens_predicted_total`,
  `llamacpp:requests_processing` (busy slots), `llamacpp:requests_deferred` (waiting for a
  slot); older builds also `llamacpp:kv_cache_usage_ratio` and `llamacpp:kv_cache_tokens`.
- TGI `/metrics`: `tgi_queue_size`, `tgi_batch_current_size`, `tgi_request_success`,
  histograms `tgi_request_duration` (end to end), `tgi_request_input_length` and
  `tgi_request_generated_tokens` (their sums are the token counters).
- Ollama `/api/ps` (api/types.go `ProcessModelResponse`): each loaded model's `size` and
  `size_vram` in bytes, `context_length` (newer releases), `expires_at`, `digest` and
  `details`; `/api/show` (`ShowResponse.model_info`) the GGUF shape of one model.
- Other targets: `http_requests_total` and the `http_request_duration_seconds` histogram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gpu_insight.collector.engines.exposition import Exposition, ExpositionError, Histogram
from gpu_insight.instants import upstream_instant
from gpu_insight.schemas import GgufArchitecture, LoadedModel

MIB = 1024 * 1024


@dataclass(frozen=True)
class Reading:
    model: str | None = None
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage_ratio: float | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_size_tokens: int | None = None  # the KV pool, in tokens
    max_model_len: int | None = None
    loaded_models_vram_mib: dict[str, float] | None = None
    loaded_models: tuple[LoadedModel, ...] | None = None
    prefix_caching_enabled: bool | None = None
    prefix_cache_hit_ratio: float | None = None  # an engine's own gauge (SGLang)
    requests_swapped: float | None = None
    # cumulative counters: rates come from their change over the window
    requests_total: float | None = None
    preemptions_total: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    prefix_cache_queries_total: float | None = None  # tokens looked up in the prefix cache
    prefix_cache_hits_total: float | None = None  # of them, found there
    ttft: Histogram | None = None
    e2e: Histogram | None = None
    queue_time: Histogram | None = None


def parse_vllm(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("vllm:e2e_request_latency_seconds")
    utilization = m.label("vllm:cache_config_info", "gpu_memory_utilization")
    pool_tokens = _int_or_none(m.label("vllm:cache_config_info", "kv_cache_size_tokens"))
    blocks = _int_or_none(m.label("vllm:cache_config_info", "num_gpu_blocks"))
    block_size = _int_or_none(m.label("vllm:cache_config_info", "block_size"))
    if pool_tokens is None and blocks and block_size:
        pool_tokens = blocks * block_size  # releases before kv_cache_size_tokens
    prefix_caching = m.label("vllm:cache_config_info", "enable_prefix_caching")
    return Reading(
        model=m.first_label("model_name", "vllm:"),
        requests_running=m.total("vllm:num_requests_running"),
        requests_waiting=m.total("vllm:num_requests_waiting"),
        kv_cache_usage_ratio=m.highest("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        gpu_memory_utilization=_float_or_none(utilization),
        kv_cache_size_tokens=pool_tokens,
        prefix_caching_enabled=None if prefix_caching is None else prefix_caching == "True",
        requests_swapped=m.total("vllm:num_requests_swapped"),
        requests_total=first_known(m.total("vllm:request_success_total"), _count(e2e)),
        preemptions_total=m.total("vllm:num_preemptions_total"),
        prompt_tokens_total=m.total("vllm:prompt_tokens_total"),
        generation_tokens_total=m.total("vllm:generation_tokens_total"),
        prefix_cache_queries_total=m.total(
            "vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"
        ),
        prefix_cache_hits_total=m.total(
            "vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"
        ),
        ttft=m.histogram("vllm:time_to_first_token_seconds"),
        e2e=e2e,
        queue_time=m.histogram("vllm:request_queue_time_seconds"),
    )


def parse_sglang(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("sglang:e2e_request_latency_seconds")
    return Reading(
        model=m.first_label("model_name", "sglang:"),
        requests_running=m.total("sglang:num_running_reqs"),
        requests_waiting=m.total("sglang:num_queue_reqs"),
        kv_cache_usage_ratio=m.highest("sglang:token_usage"),
        kv_cache_size_tokens=_int_from(m.highest("sglang:max_total_num_tokens")),
        prefix_cache_hit_ratio=m.highest("sglang:cache_hit_rate"),
        requests_total=first_known(m.total("sglang:num_requests_total"), _count(e2e)),
        preemptions_total=m.total("sglang:num_retracted_requests_total"),
        prompt_tokens_total=m.total("sglang:prompt_tokens_total"),
        generation_tokens_total=m.total("sglang:generation_tokens_total"),
        ttft=m.histogram("sglang:time_to_first_token_seconds"),
        e2e=e2e,
        queue_time=m.histogram("sglang:queue_time_seconds"),
    )


def parse_llama_cpp(text: str) -> Reading:
    m = Exposition(text)
    return Reading(
        requests_running=m.total("llamacpp:requests_processing"),
        requests_waiting=m.total("llamacpp:requests_deferred"),
        kv_cache_usage_ratio=m.highest("llamacpp:kv_cache_usage_ratio"),
        prompt_tokens_total=m.total("llamacpp:prompt_tokens_total"),
        generation_tokens_total=m.total("llamacpp:tokens_predicted_total"),
    )


def parse_tgi(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("tgi_request_duration")
    return Reading(
        requests_running=m.total("tgi_batch_current_size"),
        requests_waiting=m.total("tgi_queue_size"),
        requests_total=first_known(
            m.total("tgi_request_success", "tgi_request_success_total"), _count(e2e)
        ),
        prompt_tokens_total=m.total("tgi_request_input_length_sum"),
        generation_tokens_total=m.total("tgi_request_generated_tokens_sum"),
        e2e=e2e,
    )


def parse_generic(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("http_request_duration_seconds")
    requests = first_known(m.total("http_requests_total"), _count(e2e))
    return Reading(requests_total=requests, e2e=e2e)


def parse_ollama_ps(body: str) -> Reading:
    try:
        models = tuple(_loaded_model(item) for item in json.loads(body).get("models") or [])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExpositionError(f"not an Ollama /api/ps answer ({exc})") from exc
    return Reading(
        model=models[0].name if len(models) == 1 else None,
        loaded_models_vram_mib={m.name: m.vram_mib for m in models},
        loaded_models=models,
    )


def _loaded_model(item: dict[str, Any]) -> LoadedModel:
    details = item.get("details") or {}
    return LoadedModel(
        name=str(item["name"]),
        digest=item.get("digest") or None,
        size_mib=float(item.get("size") or 0) / MIB,
        vram_mib=float(item.get("size_vram") or 0) / MIB,
        context_length=_int_or_none(item.get("context_length")) or None,
        expires_at=_instant_or_none(item.get("expires_at")),
        family=details.get("family") or None,
        parameter_size=details.get("parameter_size") or None,
        quantization_level=details.get("quantization_level") or None,
    )


# `model_info` keys after the architecture's prefix (`llama.block_count`), per shape field.
_GGUF_SHAPE_KEYS = {
    "block_count": "block_count",
    "embedding_length": "embedding_length",
    "feed_forward_length": "feed_forward_length",
    "head_count": "attention.head_count",
    "head_count_kv": "attention.head_count_kv",
    "key_length": "attention.key_length",
    "value_length": "attention.value_length",
    "expert_count": "expert_count",
    "context_length": "context_length",
    "vocab_size": "vocab_size",
}


def parse_ollama_show(body: str) -> GgufArchitecture | None:
    """The GGUF shape from `/api/show`; None when the answer names no architecture."""
    try:
        info = json.loads(body).get("model_info") or {}
        architecture = info.get("general.architecture")
        if not isinstance(architecture, str) or not architecture:
            return None
        shape = {
            field: _int_or_none(info.get(f"{architecture}.{key}"))
            for field, key in _GGUF_SHAPE_KEYS.items()
        }
    except (ValueError, TypeError, AttributeError) as exc:
        raise ExpositionError(f"not an Ollama /api/show answer ({exc})") from exc
    return GgufArchitecture(
        architecture=architecture,
        parameter_count=_int_or_none(info.get("general.parameter_count")),
        **shape,
    )


def parse_openai_models(body: str) -> tuple[str | None, int | None]:
    """(model id, max_model_len) from `/v1/models`; vLLM adds max_model_len to each entry."""
    try:
        entries = json.loads(body).get("data") or []
        first = entries[0]
        length = first.get("max_model_len")
        return str(first.get("id")), int(length) if length is not None else None
    except (ValueError, TypeError, IndexError, AttributeError):
        return None, None


def parse_version(body: str) -> str | None:
    """The version from an engine's `/version` answer (vLLM: `{"version": "0.24.0"}`)."""
    try:
        version = json.loads(body).get("version")
    except (ValueError, AttributeError):
        return None
    return str(version) if version else None


def first_known(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def _count(histogram: Histogram | None) -> float | None:
    return histogram.count if histogram is not None else None


def _int_or_none(value: object) -> int | None:
    """An integer from a number or its text; None for anything else (lists, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # text, NaN or infinity
        return None


def _int_from(value: float | None) -> int | None:
    return int(value) if value is not None else None


def _instant_or_none(value: object) -> float | None:
    """Epoch seconds of an RFC 3339 time; None for Go's zero time (not set) or no time."""
    return upstream_instant(value) if isinstance(value, str) else None


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
