"""One scrape of one engine, reduced to the numbers GPU Insight uses (pure parsers).

Metric names, from each engine's documentation:

- vLLM `/metrics`: `vllm:num_requests_running`, `vllm:num_requests_waiting`,
  `vllm:kv_cache_usage_perc` (older: `vllm:gpu_cache_usage_perc`; both are 0–1 ratios),
  `vllm:num_preemptions_total`, `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`,
  `vllm:request_success_total`, histograms `vllm:time_to_first_token_seconds` and
  `vllm:e2e_request_latency_seconds`, `vllm:cache_config_info{gpu_memory_utilization=…,
  kv_cache_size_tokens=…}` (the KV pool), as vLLM 0.24.0 exposes them
  (`tests/collector/engine_fixtures/vllm-0.24.0/`). `/v1/models` adds `max_model_len`,
  `/version` the version (`{"version": "0.24.0"}`).
- SGLang `/metrics` (needs `--enable-metrics`): `sglang:num_running_reqs`,
  `sglang:num_queue_reqs`, `sglang:token_usage`, `sglang:prompt_tokens_total`,
  `sglang:generation_tokens_total`, `sglang:num_requests_total` (newer), histograms
  `sglang:time_to_first_token_seconds`, `sglang:e2e_request_latency_seconds`.
- TGI `/metrics`: `tgi_queue_size`, `tgi_batch_current_size`, `tgi_request_success`,
  histograms `tgi_request_duration` (end to end), `tgi_request_input_length` and
  `tgi_request_generated_tokens` (their sums are the token counters).
- Ollama `/api/ps`: the loaded models with `size_vram` in bytes.
- Other targets: `http_requests_total` and the `http_request_duration_seconds` histogram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gpu_insight.collector.engines.exposition import Exposition, ExpositionError, Histogram

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
    # cumulative counters: rates come from their change over the window
    requests_total: float | None = None
    preemptions_total: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    ttft: Histogram | None = None
    e2e: Histogram | None = None


def parse_vllm(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("vllm:e2e_request_latency_seconds")
    utilization = m.label("vllm:cache_config_info", "gpu_memory_utilization")
    pool_tokens = _float_or_none(m.label("vllm:cache_config_info", "kv_cache_size_tokens"))
    return Reading(
        model=m.first_label("model_name", "vllm:"),
        requests_running=m.total("vllm:num_requests_running"),
        requests_waiting=m.total("vllm:num_requests_waiting"),
        kv_cache_usage_ratio=m.highest("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        gpu_memory_utilization=_float_or_none(utilization),
        kv_cache_size_tokens=int(pool_tokens) if pool_tokens is not None else None,
        requests_total=_first_known(m.total("vllm:request_success_total"), _count(e2e)),
        preemptions_total=m.total("vllm:num_preemptions_total"),
        prompt_tokens_total=m.total("vllm:prompt_tokens_total"),
        generation_tokens_total=m.total("vllm:generation_tokens_total"),
        ttft=m.histogram("vllm:time_to_first_token_seconds"),
        e2e=e2e,
    )


def parse_sglang(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("sglang:e2e_request_latency_seconds")
    return Reading(
        model=m.first_label("model_name", "sglang:"),
        requests_running=m.total("sglang:num_running_reqs"),
        requests_waiting=m.total("sglang:num_queue_reqs"),
        kv_cache_usage_ratio=m.highest("sglang:token_usage"),
        requests_total=_first_known(m.total("sglang:num_requests_total"), _count(e2e)),
        prompt_tokens_total=m.total("sglang:prompt_tokens_total"),
        generation_tokens_total=m.total("sglang:generation_tokens_total"),
        ttft=m.histogram("sglang:time_to_first_token_seconds"),
        e2e=e2e,
    )


def parse_tgi(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("tgi_request_duration")
    return Reading(
        requests_running=m.total("tgi_batch_current_size"),
        requests_waiting=m.total("tgi_queue_size"),
        requests_total=_first_known(
            m.total("tgi_request_success", "tgi_request_success_total"), _count(e2e)
        ),
        prompt_tokens_total=m.total("tgi_request_input_length_sum"),
        generation_tokens_total=m.total("tgi_request_generated_tokens_sum"),
        e2e=e2e,
    )


def parse_generic(text: str) -> Reading:
    m = Exposition(text)
    e2e = m.histogram("http_request_duration_seconds")
    requests = _first_known(m.total("http_requests_total"), _count(e2e))
    return Reading(requests_total=requests, e2e=e2e)


def parse_ollama_ps(body: str) -> Reading:
    try:
        models = json.loads(body).get("models") or []
        vram = {str(item["name"]): float(item.get("size_vram") or 0) / MIB for item in models}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ExpositionError(f"not an Ollama /api/ps answer ({exc})") from exc
    return Reading(
        model=next(iter(vram)) if len(vram) == 1 else None,
        loaded_models_vram_mib=vram,
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


def _first_known(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def _count(histogram: Histogram | None) -> float | None:
    return histogram.count if histogram is not None else None


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
