"""The Kubernetes example for a cluster with dcgm-exporter only: what it tells Prometheus and
the plugin to do is what the plugin reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gpu_insight.sources.prometheus.settings import prometheus_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "dcgm-exporter-only.yaml"
SETTING_NAMES = {
    "Prometheus URL": "prometheus_url",
    "Prometheus label selector": "prometheus_selector",
    "Kubernetes labels to apps and teams": "prometheus_app_mapping",
}
# "#      <setting label>   <value>" lines of step 2 in the header
_SETTING = re.compile(rf"^#\s{{6}}({'|'.join(SETTING_NAMES)})\s{{2,}}(\S.*)$")


def test_the_service_monitor_keeps_dcgm_exporters_pod_labels_and_names_nodes() -> None:
    [monitor] = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    assert monitor["kind"] == "ServiceMonitor"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["port"] == "gpu-metrics"
    [relabel] = endpoint["relabelings"]
    assert relabel == {
        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
        "targetLabel": "instance",
    }


def test_the_plugin_settings_it_shows_are_accepted() -> None:
    shown = {
        SETTING_NAMES[m.group(1)]: m.group(2)
        for line in EXAMPLE.read_text().splitlines()
        if (m := _SETTING.match(line))
    }
    assert set(shown) == set(SETTING_NAMES.values())
    settings = prometheus_settings(shown)
    assert [str(m) for m in settings.selector] == ['job="nvidia-dcgm-exporter"']
    assert len(settings.app_rules) == 2
