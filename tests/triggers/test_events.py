"""Alerts as a workflow sees them: Alertmanager's labels, the event node's filters, the run's
variables."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_insight.errors import InputError
from gpu_insight.triggers.alertmanager import AlertmanagerMessage, alertmanager_events
from gpu_insight.triggers.events import (
    AlertEvent,
    EventFilter,
    event_of_delivery,
    payload_of,
    run_variables,
)
from tests.triggers.deliveries import alertmanager_group, delivery


def event(**fields: Any) -> AlertEvent:
    return event_of_delivery(delivery(**fields))


def test_alertmanager_labels_of_the_gpu_insight_rules_become_the_alert_fields() -> None:
    first, _, resolved = alertmanager_events(
        AlertmanagerMessage.model_validate(alertmanager_group())
    )
    assert (first.rule, first.severity, first.state) == ("gpu_memory_high", "warning", "firing")
    assert (first.host, first.gpu_index, first.gpu_uuid) == ("gpu-node-2", 0, "GPU-aaaa")
    assert first.message.startswith("GPU 0 (GPU-aaaa) on gpu-node-2:9470")
    assert first.fired_at == pytest.approx(1763632800.123456)
    assert first.resolved_at is None  # Alertmanager's zero time while firing
    assert resolved.resolved_at == 1763633100.0
    assert first.dashboard_url.startswith("http://prometheus:9090/graph")


def test_dcgm_exporter_labels_name_the_host_gpu_and_model() -> None:
    group = alertmanager_group()
    group["alerts"][0]["labels"] = {
        "alertname": "GpuHot",
        "Hostname": "dgx-3",
        "UUID": "GPU-dcgm",
        "modelName": "NVIDIA A100-SXM4-80GB",
        "gpu": "3",
    }
    first = alertmanager_events(AlertmanagerMessage.model_validate(group))[0]
    assert (first.rule, first.host, first.gpu_uuid) == ("GpuHot", "dgx-3", "GPU-dcgm")
    assert (first.gpu_name, first.gpu_index, first.severity) == (
        "NVIDIA A100-SXM4-80GB",
        3,
        "warning",
    )


@pytest.mark.parametrize(
    ("instance", "host"),
    [("gpu-node-2:9470", "gpu-node-2"), ("[::1]:9470", "::1"), ("gpu-node-2", "gpu-node-2")],
)
def test_the_host_is_the_instance_without_its_port(instance: str, host: str) -> None:
    group = alertmanager_group()
    group["alerts"][0]["labels"]["instance"] = instance
    assert alertmanager_events(AlertmanagerMessage.model_validate(group))[0].host == host


def test_an_empty_filter_accepts_warnings_and_above_of_every_rule_and_host() -> None:
    accepts = EventFilter.from_parameters({}).accepts
    assert accepts(event()) and accepts(event(severity="critical", rule="gpu_lost"))
    assert not accepts(event(severity="info"))


def test_the_filter_keeps_only_the_listed_rules_and_hosts() -> None:
    only = EventFilter.from_parameters(
        {"rules": "gpu_lost, gpu_memory_high", "hosts": "gpu-node-1"}
    )
    assert only.accepts(event())
    assert not only.accepts(event(rule="gpu_utilization_high"))
    assert not only.accepts(event(host="gpu-node-9"))


def test_the_filter_keeps_only_alerts_of_the_minimum_severity_and_above() -> None:
    critical = EventFilter.from_parameters({"min_severity": "critical"})
    assert critical.accepts(event(severity="critical")) and not critical.accepts(event())


def test_a_severity_the_filter_does_not_know_is_refused_naming_the_parameter() -> None:
    with pytest.raises(
        InputError, match="min_severity must be one of info, warning, critical"
    ) as raised:
        EventFilter.from_parameters({"min_severity": "page"})
    assert raised.value.parameter == "min_severity"


def test_a_run_gets_the_first_matching_alert_and_all_of_them() -> None:
    payload = payload_of([event(gpu_index=0), event(gpu_index=1), event(state="resolved")])
    variables = run_variables("alert_firing", {}, payload)
    assert variables is not None
    assert (variables["gpu_index"], variables["alert_count"]) == (0, 2)
    assert [a["gpu_index"] for a in variables["alerts"]] == [0, 1]


def test_no_alert_passing_the_filters_means_no_run() -> None:
    payload = payload_of([event()])
    assert run_variables("alert_firing", {"rules": "gpu_lost"}, payload) is None
    assert run_variables("alert_resolved", {}, payload) is None


def test_unknown_text_is_empty_and_unknown_numbers_are_null() -> None:
    variables = run_variables(
        "alert_pending",
        {"min_severity": "info"},
        payload_of(
            [event(state="pending", fired_at=None, gpu_name=None, gpu_uuid=None, gpu_index=None)]
        ),
    )
    assert variables is not None
    assert (variables["gpu_name"], variables["gpu_uuid"]) == ("", "")
    assert (variables["fired_at"], variables["resolved_at"], variables["gpu_index"]) == (
        None,
        None,
        None,
    )
