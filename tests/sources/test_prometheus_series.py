"""Series read back into the wire models: the collector's own exposition round-trips, and
dcgm-exporter's default counters become GPUs and pods."""

from __future__ import annotations

import pytest
from prometheus_client.exposition import generate_latest

from gpu_insight.collector.metrics import metrics_registry
from gpu_insight.sources.prometheus import dcgm_series, our_series
from gpu_insight.sources.prometheus.client import Sample
from gpu_insight.sources.prometheus.hosts import HostSeries
from gpu_insight.sources.prometheus.settings import parse_app_rules
from tests.collector.api_support import make_runtime, publish, sample_snapshot
from tests.sources.prometheus_answers import (
    EVALUATED_AT,
    dcgm_devices,
    dcgm_scraped,
    our_attribution,
    our_devices,
    scraped,
)
from tests.support.dcgm_exporter import H100_FB_MIB, DcgmGpu, exposition

TARGET = {"instance": "10.0.0.7:9470", "job": "gpu-insight", "cluster": "inference"}
PODS = (
    DcgmGpu(0, "GPU-d0", 60000.0, 97.0, namespace="llm-support", pod="vllm-0", container="vllm"),
    DcgmGpu(
        1, "GPU-d1", 2000.0, 3.0, namespace="research", pod="eval-7", container="eval", xid_last=79
    ),
    DcgmGpu(2, "GPU-d2", 0.0, 0.0),
)
RULES = parse_app_rules("namespace=llm-support:support-bot/customer-care; namespace=*:*")


def collector_series() -> list[Sample]:
    runtime = make_runtime()
    publish(runtime, sample_snapshot(collected_at=EVALUATED_AT - 0.5))
    return scraped(generate_latest(metrics_registry(runtime)).decode(), TARGET)


def test_every_gpu_field_a_snapshot_reads_comes_back_as_the_collector_exported_it() -> None:
    original = sample_snapshot()
    [host] = our_series.read_hosts(*_our_queries())
    assert host.host == original.host and host.instance == TARGET["instance"]
    for gpu in original.gpus:
        read = host.gpus[gpu.uuid]
        for _, (attribute, _) in our_series.GPU_FIELDS.items():
            expected = getattr(gpu, attribute)
            assert getattr(read, attribute) == pytest.approx(expected), attribute
        assert (read.index, read.name, read.pci_bus_id, read.compute_capability) == (
            gpu.index,
            gpu.name,
            gpu.pci_bus_id,
            gpu.compute_capability,
        )
        assert read.health == gpu.health
        assert read.clock_event_reasons == gpu.clock_event_reasons
        assert read.exporter == "gpu-insight"


def _our_queries() -> tuple[list[Sample], list[Sample]]:
    series = collector_series()
    return our_devices(series), our_attribution(series)


def test_processes_read_back_summed_per_app_and_container_without_pids() -> None:
    original = sample_snapshot()
    [host] = our_series.read_hosts(*_our_queries())
    by_container: dict[tuple[str, str | None], float] = {}
    for p in original.processes:
        key = (p.gpu_uuid, p.attribution.container_name)
        by_container[key] = by_container.get(key, 0.0) + (p.used_memory_mib or 0.0)
    read = {(p.gpu_uuid, p.attribution.container_name): p for p in host.processes}
    assert set(read) == set(by_container)
    for key, mib in by_container.items():
        assert read[key].used_memory_mib == pytest.approx(mib)
        assert read[key].pid == 0
    vllm = next(p for p in host.processes if p.attribution.app == "support-bot")
    assert (vllm.attribution.engine, vllm.attribution.team) == ("vllm", "platform")


def test_engines_and_alerts_read_back_with_their_host() -> None:
    original = sample_snapshot()
    [host] = our_series.read_hosts(*_our_queries())
    assert {e.url for e in host.engines} == {e.url for e in original.engines}
    for engine in original.engines:
        read = next(e for e in host.engines if e.url == engine.url)
        assert (read.up, read.kv_cache_usage_ratio, read.requests_waiting) == (
            engine.up,
            engine.kv_cache_usage_ratio,
            engine.requests_waiting,
        )
    active = {(a.rule, a.gpu_uuid) for a in original.alerts if a.state != "resolved"}
    assert {(a.rule, a.gpu_uuid) for a in host.alerts} == active
    assert all(a.host == original.host for a in host.alerts)


def test_the_collectors_own_state_says_when_it_sampled_and_what_it_reads() -> None:
    [host] = our_series.read_hosts(*_our_queries())
    assert host.up and host.source == "replay"
    assert host.sampled_at == pytest.approx(EVALUATED_AT - 0.5)


def test_a_target_label_named_like_the_collectors_own_is_not_taken_for_it() -> None:
    """Prometheus renames the collector's `host` to `exported_host` when the target has one."""
    series = []
    for s in collector_series():
        labels = dict(s.labels)
        if "host" in labels:
            labels["exported_host"] = labels.pop("host")
        series.append(type(s)({**labels, "host": "target-label"}, s.t, s.value))
    [host] = our_series.read_hosts(our_devices(series), our_attribution(series))
    assert host.host == sample_snapshot().host


def dcgm(
    hostname: str = "dcgm-node-1",
    gpus: tuple[DcgmGpu, ...] = PODS,
    apps: frozenset[str] | None = None,
) -> list[HostSeries]:
    series = scraped(exposition(hostname, gpus), {"instance": "10.0.0.9:9400", "job": "dcgm"})
    return dcgm_series.read_hosts(dcgm_devices(series), dcgm_scraped(series), RULES, apps)


def test_dcgm_memory_is_mib_and_the_total_adds_free_used_and_reserved() -> None:
    [host] = dcgm()
    assert host.host == "dcgm-node-1" and host.exporter == "dcgm-exporter"
    for gpu in PODS:
        read = host.gpus[gpu.uuid]
        assert (read.memory_free_mib, read.memory_used_mib, read.memory_reserved_mib) == (
            gpu.free_mib,
            gpu.used_mib,
            gpu.reserved_mib,
        )
        assert read.memory_total_mib == H100_FB_MIB
        assert read.utilization_percent == gpu.utilization_percent
        assert read.name == gpu.model_name and read.host == "dcgm-node-1"


def test_dcgm_energy_is_joules_and_its_blank_values_are_unknown() -> None:
    [host] = dcgm()
    read = host.gpus[PODS[0].uuid]
    assert read.energy_joules == pytest.approx(8_123_456.789)  # reported in mJ
    assert read.temperature_celsius == 45.0  # memory temperature is blank: nothing overwrote it
    assert host.gpus[PODS[1].uuid].xid_last == 79 and read.xid_last is None


def test_dcgm_pods_are_processes_with_app_and_team_from_the_first_matching_rule() -> None:
    [host] = dcgm()
    pods = {p.attribution.container_name: p for p in host.processes}
    assert set(pods) == {"llm-support/vllm-0/vllm", "research/eval-7/eval"}
    support = pods["llm-support/vllm-0/vllm"]
    assert (support.attribution.app, support.attribution.team) == ("support-bot", "customer-care")
    assert support.used_memory_mib == 60000.0 and support.sm_utilization_percent == 97.0
    research = pods["research/eval-7/eval"].attribution
    assert (research.app, research.team) == ("research", None)  # namespace=*:* — the value itself


def test_an_app_scope_keeps_only_its_pods_and_every_gpu() -> None:
    [host] = dcgm(apps=frozenset({"support-bot"}))
    assert [p.attribution.app for p in host.processes] == ["support-bot"]
    assert len(host.gpus) == len(PODS)


def test_the_exported_workload_labels_win_over_the_exporters_own_pod() -> None:
    """Scraped through a ServiceMonitor, `pod` is the exporter's and `exported_pod` the GPU's."""
    series = scraped(exposition("node-a", PODS[:1]), {"instance": "x:9400", "job": "dcgm"})
    renamed = []
    for s in series:
        labels = {
            ("exported_" + k if k in ("pod", "namespace", "container") else k): v
            for k, v in s.labels.items()
        }
        labels.update(pod="dcgm-exporter-abcde", namespace="gpu-operator", container="exporter")
        renamed.append(type(s)(labels, s.t, s.value))
    [host] = dcgm_series.read_hosts(dcgm_devices(renamed), dcgm_scraped(renamed), RULES, None)
    [pod] = host.processes
    assert pod.attribution.container_name == "llm-support/vllm-0/vllm"
    assert pod.attribution.app == "support-bot"


def test_the_host_label_of_either_spelling_names_the_host() -> None:
    old = {"Hostname": "a", "instance": "10.0.0.1:9400"}
    new = {"hostname": "b", "instance": "10.0.0.1:9400"}
    assert dcgm_series.host_name(old) == "a" and dcgm_series.host_name(new) == "b"
    assert dcgm_series.host_name({"instance": "10.0.0.1:9400"}) == "10.0.0.1"
