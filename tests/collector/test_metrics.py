"""`/metrics` under real uvicorn, parsed with prometheus-client's parsers, values checked exactly
against the published snapshot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from gpu_insight.collector.metrics import MetricsPage, SnapshotCollector
from gpu_insight.schemas import EngineMetrics, LoadedModel
from tests.collector.api_support import (
    GPU0_UUID,
    GPU1_UUID,
    NOW,
    ServedApi,
    make_runtime,
    publish,
    sample_snapshot,
)

MIB = 1024 * 1024
GPU0 = {"uuid": GPU0_UUID, "gpu": "0"}
GPU1 = {"uuid": GPU1_UUID, "gpu": "1"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot())
        yield served


@pytest.fixture(scope="module")
def samples(api: ServedApi) -> Samples:
    response = api.get("/metrics")
    assert response.status_code == 200
    return samples_of(response.text)


def test_plain_scrape_gets_text_format_0_0_4(api: ServedApi) -> None:
    response = api.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_openmetrics_is_negotiated_and_parses(api: ServedApi) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = api.get("/metrics", headers={"Accept": accept})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    families = {family.name: family for family in openmetrics_families(response.text)}
    assert families["gpu_energy_joules"].type == "counter"
    assert families["gpu"].type == "info"


def test_gpu_info_carries_identity(samples: Samples) -> None:
    labels = {
        **GPU0,
        "name": "NVIDIA H100 80GB HBM3",
        "pci_bus_id": "00000000:19:00.0",
        "compute_capability": "9.0",
        "driver_version": "550.90.07",
        "host": "gpu-node-7",
    }
    assert value(samples, "gpu_info", **labels) == 1.0


def test_memory_is_in_bytes(samples: Samples) -> None:
    assert value(samples, "gpu_memory_total_bytes", **GPU0) == 81559 * MIB
    assert value(samples, "gpu_memory_used_bytes", **GPU0) == 71512 * MIB
    assert value(samples, "gpu_memory_free_bytes", **GPU0) == 9535 * MIB
    assert value(samples, "gpu_memory_reserved_bytes", **GPU0) == 512 * MIB


def test_utilization_is_a_ratio(samples: Samples) -> None:
    assert value(samples, "gpu_utilization_ratio", **GPU0) == pytest.approx(0.87)
    assert value(samples, "gpu_memory_activity_ratio", **GPU0) == pytest.approx(0.41)


def test_temperatures_power_energy_and_clocks_are_in_base_units(samples: Samples) -> None:
    assert value(samples, "gpu_temperature_celsius", **GPU0) == 63.0
    assert value(samples, "gpu_temperature_slowdown_threshold_celsius", **GPU0) == 87.0
    assert value(samples, "gpu_temperature_shutdown_threshold_celsius", **GPU0) == 92.0
    assert value(samples, "gpu_power_usage_watts", **GPU0) == 523.5
    assert value(samples, "gpu_power_limit_watts", **GPU0) == 700.0
    assert value(samples, "gpu_energy_joules_total", **GPU0) == 123456.5
    assert value(samples, "gpu_sm_clock_hertz", **GPU0) == 1.98e9
    assert value(samples, "gpu_sm_clock_max_hertz", **GPU0) == 1.98e9
    assert value(samples, "gpu_memory_clock_hertz", **GPU0) == 2.619e9


def test_error_counters(samples: Samples) -> None:
    assert value(samples, "gpu_ecc_uncorrected_errors_total", **GPU0) == 0.0
    assert value(samples, "gpu_xid_errors_total", **GPU0) == 2.0


def test_the_clock_event_mask_holds_nvmls_bit_of_each_active_reason(samples: Samples) -> None:
    assert value(samples, "gpu_clock_event_reasons", **GPU0) == 0x4  # sw_power_cap
    assert value(samples, "gpu_clock_event_reasons", **GPU1) == 0.0


def test_unknown_values_have_no_series(samples: Samples) -> None:
    assert ("gpu_memory_activity_ratio", frozenset(GPU1.items())) not in samples
    assert ("gpu_energy_joules_total", frozenset(GPU1.items())) not in samples
    assert "gpu_pcie_tx_bytes_per_second" not in names(samples)


def test_clock_event_reasons_are_one_when_active_and_zero_otherwise(samples: Samples) -> None:
    assert value(samples, "gpu_clock_event_active", **GPU0, reason="sw_power_cap") == 1.0
    assert value(samples, "gpu_clock_event_active", **GPU0, reason="hw_thermal_slowdown") == 0.0
    assert value(samples, "gpu_clock_event_active", **GPU1, reason="sw_power_cap") == 0.0


def test_health_state_is_one_hot(samples: Samples) -> None:
    states = {s: value(samples, "gpu_health", **GPU1, state=s) for s in ("ok", "degraded", "lost")}
    assert states == {"ok": 0.0, "degraded": 1.0, "lost": 0.0}


def test_per_gpu_series_are_labelled_by_uuid_and_index_only(samples: Samples) -> None:
    for name, labels in samples:
        if name in ("gpu_memory_used_bytes", "gpu_utilization_ratio", "gpu_processes"):
            assert {k for k, _ in labels} == {"uuid", "gpu"}


def test_no_series_has_a_pid_or_a_target_label(samples: Samples) -> None:
    forbidden = {"pid", "container", "pod", "namespace", "instance", "job"}
    assert not {k for _, labels in samples for k, _ in labels} & forbidden


def test_process_count_per_gpu(samples: Samples) -> None:
    assert value(samples, "gpu_processes", **GPU0) == 2.0
    assert value(samples, "gpu_processes", **GPU1) == 2.0


def test_app_memory_and_utilization_sum_the_processes_of_one_container(samples: Samples) -> None:
    labels = {
        **GPU0,
        "app": "support-bot",
        "team": "platform",
        "app_container": "vllm-llama",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "engine": "vllm",
    }
    assert value(samples, "gpu_app_memory_used_bytes", **labels) == 71000 * MIB
    assert value(samples, "gpu_app_sm_utilization_ratio", **labels) == pytest.approx(0.85)


def test_unattributed_processes_are_grouped_as_unattributed(samples: Samples) -> None:
    labels = {
        **GPU1,
        "app": "unattributed",
        "team": "unattributed",
        "app_container": "",
        "model": "",
        "engine": "unknown",
    }
    assert value(samples, "gpu_app_memory_used_bytes", **labels) == 9000 * MIB


def test_app_without_known_utilization_has_memory_but_no_utilization(samples: Samples) -> None:
    search = [labels for name, labels in samples if ("app", "search") in labels]
    assert search, "the search app has series"
    kinds = {name for name, labels in samples if ("app", "search") in labels}
    assert "gpu_app_memory_used_bytes" in kinds
    assert "gpu_app_sm_utilization_ratio" not in kinds


def test_engine_metrics_per_model_instance(samples: Samples) -> None:
    labels = {
        "engine": "vllm",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "app": "support-bot",
        "team": "platform",
        "instance_url": "http://127.0.0.1:8000/metrics",
    }
    assert value(samples, "gpu_insight_engine_up", **labels) == 1.0
    assert value(samples, "gpu_insight_engine_requests_running", **labels) == 3.0
    assert value(samples, "gpu_insight_engine_requests_waiting", **labels) == 1.0
    assert value(samples, "gpu_insight_engine_kv_cache_usage_ratio", **labels) == 0.42
    assert value(samples, "gpu_insight_engine_requests_per_second", **labels) == 2.5
    assert value(samples, "gpu_insight_engine_generation_tokens_per_second", **labels) == 310.0
    assert value(samples, "gpu_insight_engine_preemptions_total", **labels) == 4.0


def test_engine_that_is_down_reports_up_zero(samples: Samples) -> None:
    down = {
        "engine": "tgi",
        "model": "BAAI/bge-m3",
        "app": "search",
        "team": "unattributed",
        "instance_url": "http://127.0.0.1:8080/metrics",
    }
    assert value(samples, "gpu_insight_engine_up", **down) == 0.0


def test_ollama_models_get_vram_and_ram_shares_and_loads_per_hour() -> None:
    ollama = EngineMetrics(
        engine="ollama",
        url="http://127.0.0.1:11434/api/ps",
        up=True,
        loaded_models=[
            LoadedModel(name="qwen2.5:32b", size_mib=25600.0, vram_mib=19200.0, loads_last_hour=7),
            LoadedModel(name="llama3.1:8b", size_mib=6346.0, vram_mib=6346.0),
        ],
    )
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot().model_copy(update={"engines": [ollama]}))
        found = samples_of(served.get("/metrics").text)
    server = {"engine": "ollama", "app": "unattributed", "team": "unattributed"}
    server["instance_url"] = ollama.url
    assert value(found, "gpu_insight_engine_loaded_models", **server, model="") == 2.0
    big = {**server, "model": "qwen2.5:32b"}
    assert value(found, "gpu_insight_engine_model_vram_ratio", **big) == 0.75
    assert value(found, "gpu_insight_engine_model_ram_ratio", **big) == 0.25
    assert value(found, "gpu_insight_engine_model_loads_last_hour", **big) == 7.0
    small = {**server, "model": "llama3.1:8b"}
    assert value(found, "gpu_insight_engine_model_ram_ratio", **small) == 0.0


def test_active_alerts(samples: Samples) -> None:
    labels = {"rule": "gpu_memory_high", "severity": "warning", "state": "firing"}
    assert value(samples, "gpu_insight_alerts", **labels, uuid=GPU0_UUID) == 1.0


def test_self_metrics(samples: Samples) -> None:
    assert value(samples, "gpu_insight_up", source="replay") == 1.0
    assert value(samples, "gpu_insight_samples_total") == 1.0
    assert value(samples, "gpu_insight_last_sample_timestamp_seconds") == NOW - 0.5
    assert value(samples, "gpu_insight_sample_duration_seconds") == 0.0042
    assert value(samples, "gpu_insight_listener_errors_total") == 0.0


def test_collect_errors_are_counted_by_call() -> None:
    runtime = make_runtime()
    runtime.self_metrics.count_error("nvmlDeviceGetPowerUsage")
    runtime.self_metrics.count_error("nvmlDeviceGetPowerUsage")
    with ServedApi(runtime) as served:
        scraped = samples_of(served.get("/metrics").text)
    assert value(scraped, "gpu_insight_collect_errors_total", call="nvmlDeviceGetPowerUsage") == 2


def test_before_the_first_sample_only_self_metrics_are_exported_and_up_is_zero() -> None:
    with ServedApi(make_runtime()) as served:
        response = served.get("/metrics")
    assert response.status_code == 200
    scraped = samples_of(response.text)
    assert value(scraped, "gpu_insight_up", source="replay") == 0.0
    assert not {name for name in names(scraped) if not name.startswith("gpu_insight_")}


def test_describe_names_every_family_that_collect_yields() -> None:
    runtime = make_runtime()
    publish(runtime, sample_snapshot())
    collector = SnapshotCollector(runtime)
    described = {family.name for family in collector.describe()}
    collected = {family.name for family in collector.collect()}
    assert collected == described


def test_scrapes_between_two_samples_share_one_rendering() -> None:
    runtime = make_runtime()
    runtime.store.publish(sample_snapshot())
    page = MetricsPage(runtime)
    first, _ = page.render(None)
    assert page.render(None)[0] is first
    runtime.store.publish(sample_snapshot())
    assert page.render(None)[0] is not first


def test_errors_counted_between_two_samples_show_at_the_next_scrape() -> None:
    runtime = make_runtime()
    runtime.store.publish(sample_snapshot())
    page = MetricsPage(runtime)
    page.render(None)
    runtime.self_metrics.count_error("sampler_tick")  # a failed tick publishes nothing
    scraped = samples_of(page.render(None)[0].decode())
    assert value(scraped, "gpu_insight_collect_errors_total", call="sampler_tick") == 1
