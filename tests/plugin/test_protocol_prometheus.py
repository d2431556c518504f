"""Prometheus mode through the plugin's stdio runtime, against the real thing.

A real Prometheus (basic auth on) scrapes three replay collectors with different host names and
two static dcgm-exporter targets: `dcgm-node-1`, a host only dcgm-exporter knows, and one that
calls itself `gpu-node-1`, a host a collector already reports. With only `prometheus_url` set,
every tool answers across all of them; the last test stops a collector and finds it named.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_insight.sources.prometheus.settings import prometheus_settings
from gpu_insight.sources.prometheus.source import PrometheusSource
from tests.support.canned_http import CannedReply, CannedServer, SilentServer
from tests.support.collector_process import PLUGIN_ROOT, CollectorProcess, free_loopback_port
from tests.support.dcgm_exporter import DcgmGpu, dcgm_exporter
from tests.support.plugin_runtime import PluginRuntime
from tests.support.prometheus_server import PROMETHEUS, PrometheusServer

pytestmark = pytest.mark.prometheus

SCRAPE_EXAMPLE = PLUGIN_ROOT / "deploy" / "prometheus" / "prometheus-scrape.example.yaml"
USAGE_RULES = PLUGIN_ROOT / "deploy" / "prometheus" / "gpu-insight-usage-rules.yaml"
SCRAPE_INTERVAL_S = 1.0
USER, PASSWORD = "dify", "pw-for-tests"
PASSWORD_BCRYPT = "$2b$04$9.F7nJrD2o5f83AJgHjQGu1.jqbHgsTeTcT0m1csr3Ds6UIlJ5/kC"  # cost 4
HOSTS = ("gpu-node-1", "gpu-node-2", "gpu-node-3")
DCGM_ONLY = (
    DcgmGpu(
        0,
        "GPU-dc000000-0000-0000-0000-000000000000",
        60000.0,
        97.0,
        namespace="llm-support",
        pod="vllm-0",
        container="vllm",
    ),
    DcgmGpu(1, "GPU-dc000000-0000-0000-0000-000000000001", 0.0, 0.0),
)
DCGM_ON_OUR_HOST = (DcgmGpu(0, "GPU-dc000000-0000-0000-0000-0000000000ff", 1000.0, 5.0),)
MAPPING = "namespace=llm-support:support-bot/customer-care"
SETTLE_TIMEOUT_S = 60.0


@dataclass
class Fleet:
    prometheus: PrometheusServer
    collectors: list[CollectorProcess]
    dcgm: list[CannedServer]

    @property
    def url(self) -> str:
        """The Prometheus URL with its user and password, as an operator would paste it."""
        return self.prometheus.url.replace("http://", f"http://{USER}:{PASSWORD}@")

    def credentials(self, **extra: str) -> dict[str, Any]:
        return {"prometheus_url": self.url, "prometheus_app_mapping": MAPPING, **extra}


def scrape_config(
    collectors: list[CollectorProcess], dcgm: list[str], token: Path
) -> dict[str, Any]:
    """The shipped example pointed at the test collectors, plus a dcgm-exporter job, and the
    shipped usage recording rules evaluated every second instead of every 5 minutes."""
    config = yaml.safe_load(SCRAPE_EXAMPLE.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    rules = yaml.safe_load(USAGE_RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    (token.parent / "usage-rules.yaml").write_text(yaml.safe_dump(rules))
    config["rule_files"] = [str(token.parent / "usage-rules.yaml")]
    (job,) = config["scrape_configs"]
    job["scrape_timeout"] = "1s"
    job["authorization"]["credentials_file"] = str(token)
    job["static_configs"][0]["targets"] = [urllib.parse.urlsplit(c.url).netloc for c in collectors]
    dcgm_job = {"job_name": "dcgm-exporter", "static_configs": [{"targets": dcgm}]}
    config["scrape_configs"].append(dcgm_job)
    return config


@pytest.fixture(scope="module")
def fleet(replay_trace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus server is not installed (apt-get install prometheus)")
    folder = tmp_path_factory.mktemp("prometheus")
    token = secrets.token_urlsafe(24)
    (folder / "token").write_text(token)
    # the usage counters count from the collector's start, so its books must too: no replay
    # that books the trace's past at start
    collectors = [
        CollectorProcess(replay_trace, token=token, hostname=h, fills_history=False) for h in HOSTS
    ]
    dcgm = [
        dcgm_exporter("dcgm-node-1", DCGM_ONLY),
        dcgm_exporter("gpu-node-1", DCGM_ON_OUR_HOST),
    ]
    with contextlib.ExitStack() as running:
        for collector in collectors:
            running.enter_context(collector)
        for exporter in dcgm:
            running.enter_context(exporter)
        addresses = [urllib.parse.urlsplit(d.url).netloc for d in dcgm]
        config = scrape_config(collectors, addresses, folder / "token")
        with PrometheusServer(
            config, folder / "server", {USER: PASSWORD_BCRYPT}, (USER, PASSWORD)
        ) as server:
            server.wait_for(
                lambda: (
                    len(server.query("up == 1")) == 5
                    and len(server.query("sum by (instance) (gpu_app_gpu_seconds_total) > 0")) == 3
                ),
                SETTLE_TIMEOUT_S,
                "every target up and busy GPU-seconds counted on every collector",
            )
            yield Fleet(server, collectors, dcgm)


def tool(
    runtime: PluginRuntime, fleet: Fleet, name: str, params: dict[str, Any], **settings: str
) -> Any:
    result = runtime.invoke_tool(name, params, fleet.credentials(**settings))
    assert result.error is None, result.error
    return result


def test_the_settings_page_accepts_a_prometheus_with_gpu_series(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    assert plugin_runtime.validate_credentials(fleet.credentials()) == (True, None)


def test_gpu_status_answers_every_host_of_both_exporters_once(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    result = tool(plugin_runtime, fleet, "gpu_status", {})
    answer = result.jsons[0]
    by_host: dict[str, list[dict[str, Any]]] = {}
    for gpu in answer["gpus"]:
        by_host.setdefault(gpu["host"], []).append(gpu)
    assert sorted(by_host) == ["dcgm-node-1", *HOSTS]
    assert {g["exporter"] for g in by_host["gpu-node-1"]} == {"gpu-insight"}  # ours wins
    assert [g["uuid"] for g in by_host["dcgm-node-1"]] == [g.uuid for g in DCGM_ONLY]
    free = {g["uuid"]: g["memory_free_mib"] for g in by_host["dcgm-node-1"]}
    assert free == {g.uuid: g.free_mib for g in DCGM_ONLY}
    assert answer["source"] == "replay" and answer["missing_collectors"] == []
    assert answer["prometheus_url"] == fleet.prometheus.url  # the password stays out
    assert result.variables["gpu_count"] == 5
    assert "(replayed data, via Prometheus)" in result.text
    assert PASSWORD not in str(result.messages)


def test_gpu_processes_by_app_adds_the_collectors_apps_and_the_mapped_pod(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    answer = tool(plugin_runtime, fleet, "gpu_processes", {"group_by": "app"}).jsons[0]
    rows = {row["consumer"]: row for row in answer["consumers"]}
    assert set(rows) == {"support-bot", "nightly-eval"}
    assert rows["support-bot"]["gpus"] == [
        "dcgm-node-1:0",
        "gpu-node-1:0",
        "gpu-node-2:0",
        "gpu-node-3:0",
    ]
    assert rows["nightly-eval"]["gpus"] == ["gpu-node-1:0", "gpu-node-2:0", "gpu-node-3:0"]


def test_gpu_processes_by_container_names_the_pod(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    answer = tool(plugin_runtime, fleet, "gpu_processes", {"group_by": "container"}).jsons[0]
    pod = next(r for r in answer["consumers"] if r["consumer"] == "llm-support/vllm-0/vllm")
    assert pod["used_memory_mib"] == DCGM_ONLY[0].used_mib and pod["gpus"] == ["dcgm-node-1:0"]


def test_vram_check_places_over_every_gpu_of_every_host(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    # vLLM takes 0.9 of the total: free on no replay GPU, free on dcgm-node-1's idle GPU
    result = tool(
        plugin_runtime, fleet, "vram_check", {"model": "meta-llama/Llama-3.1-8B-Instruct"}
    )
    assert result.variables["fits"] is True
    assert result.variables["best_gpu"] == "dcgm-node-1:1"
    assert result.jsons[0]["notes"][0] == (
        f"live GPU data read through Prometheus at {fleet.prometheus.url}: "
        "2 from dcgm-exporter, 3 from gpu-insight"
    )


def test_serving_advice_reads_the_engines_through_prometheus(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    answer = tool(
        plugin_runtime, fleet, "serving_advice", {"model": "Qwen/Qwen2.5-1.5B-Instruct"}
    ).jsons[0]
    assert answer["engine"] == "vllm" and answer["planned"] is False  # found running
    assert answer["prometheus_url"] == fleet.prometheus.url


def test_the_status_endpoint_carries_the_engine_series(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    body = endpoint(plugin_runtime, fleet, "/status").json()
    engines = {(e["host"], e["engine"]) for e in body["engines"]}
    assert engines == {(h, "vllm") for h in HOSTS}
    assert all(e["kv_cache_usage_ratio"] is not None for e in body["engines"])


COUNTERS = {
    "gpu_seconds": ("gpu_app_gpu_seconds_total", 1.0),
    "memory_mib_seconds": ("gpu_app_memory_byte_seconds_total", 1 / 2**20),
    "energy_joules": ("gpu_app_energy_joules_total", 1.0),
}


def tolerance(fleet: Fleet, field: str) -> float:
    """One scrape interval's worth at each end of a window, at the most each counter can rise
    per second here: one H100 per host fully busy, at its 700 W limit, and the memory that the
    trace's processes hold (the same in every frame)."""
    held_mib = sum(
        p["used_memory_mib"] for p in fleet.collectors[0].get("/v1/snapshot")["processes"]
    )
    most_per_s = {"gpu_seconds": 1.0, "memory_mib_seconds": held_mib, "energy_joules": 700.0}
    return len(HOSTS) * most_per_s[field] * 2 * SCRAPE_INTERVAL_S


def collectors_usage(fleet: Fleet, field: str) -> dict[str, float]:
    """`field` by app since the collectors started, from their own /v1/usage, added up."""
    now = time.time()
    totals: dict[str, float] = {}
    for collector in fleet.collectors:
        report = collector.get(f"/v1/usage?from={now - 3600}&to={now}&group_by=app")
        for row in report["rows"]:
            totals[row["group"]] = totals.get(row["group"], 0.0) + row[field]
    return totals


@pytest.mark.parametrize("field", COUNTERS)
def test_the_counters_rise_by_what_the_books_add_over_a_window(fleet: Fleet, field: str) -> None:
    """`increase()` over a window that opens after the collectors started."""
    before, start = collectors_usage(fleet, field), time.time()
    time.sleep(8)
    after, end = collectors_usage(fleet, field), time.time()
    counter, factor = COUNTERS[field]
    increase = fleet.prometheus.query(
        f"sum by (app) (increase({counter}[{round((end - start) * 1000)}ms]))"
    )
    through_prometheus = {r["metric"]["app"]: float(r["value"][1]) * factor for r in increase}
    assert set(through_prometheus) == set(after)
    for app, total in after.items():
        books = total - before.get(app, 0.0)
        assert books > 0, app
        assert through_prometheus[app] == pytest.approx(books, abs=tolerance(fleet, field)), app


def test_the_usage_report_through_prometheus_matches_the_collectors_books(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    params = {"window": "1h", "group_by": "app"}
    answer = tool(plugin_runtime, fleet, "gpu_usage_report", params).jsons[0]
    books = collectors_usage(fleet, "gpu_seconds")
    # What the collectors booked before Prometheus first scraped them is in no increase(): the
    # counters' first samples, their lowest values (they count from the collectors' start).
    first_scraped = {
        r["metric"]["app"]: float(r["value"][1])
        for r in fleet.prometheus.query(
            "sum by (app) (min_over_time(gpu_app_gpu_seconds_total[1h]))"
        )
    }
    through_prometheus = {row["group"]: row["gpu_hours"] * 3600 for row in answer["rows"]}
    assert set(through_prometheus) == set(books)
    for app, gpu_seconds in books.items():
        # the books since then; the report's GPU-hours are rounded to 0.0001 h (0.36 s)
        assert through_prometheus[app] == pytest.approx(
            gpu_seconds - first_scraped.get(app, 0.0), abs=tolerance(fleet, "gpu_seconds") + 0.36
        ), app


def test_the_recording_rules_copy_adds_up_to_what_the_counters_rose_by(fleet: Fleet) -> None:
    """In-process, with the copy's minimum span cut to seconds: its rules run every second
    here, and the fleet has run for less than the hour the plugin asks of a window."""
    settings = prometheus_settings(fleet.credentials())
    to_t = time.time()
    from_t = to_t - 15
    counters = PrometheusSource(settings).usage(from_t, to_t, "app").value
    copy = PrometheusSource(settings, recorded_usage_min_span_s=1).usage(from_t, to_t, "app").value
    assert (counters.usage_series, copy.usage_series) == ("counters", "recording_rules")
    by_counters = {row.group: row.gpu_seconds for row in counters.rows}
    assert {row.group for row in copy.rows} == set(by_counters) == {"support-bot", "nightly-eval"}
    for row in copy.rows:
        assert row.gpu_seconds == pytest.approx(
            by_counters[row.group], abs=tolerance(fleet, "gpu_seconds")
        ), row.group


API_KEY = "endpoint-key"


def endpoint(runtime: PluginRuntime, fleet: Fleet, path: str, **settings: str) -> Any:
    response = runtime.invoke_endpoint(
        "GET",
        path,
        headers={"X-Api-Key": API_KEY},
        settings={**fleet.credentials(**settings), "api_key": API_KEY},
    )
    assert response.status == 200, response.body
    return response


def test_the_metrics_endpoint_serves_the_series_of_both_exporters(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    text = endpoint(plugin_runtime, fleet, "/metrics").body.decode()
    info = [line for line in text.splitlines() if line.startswith("gpu_info{")]
    assert sorted(line.split('host="')[1].split('"')[0] for line in info) == list(HOSTS)
    assert "DCGM_FI_DEV_FB_FREE{" in text and 'Hostname="dcgm-node-1"' in text
    assert "gpu_app_gpu_seconds_total{" in text


def test_the_history_endpoint_charts_every_gpu(plugin_runtime: PluginRuntime, fleet: Fleet) -> None:
    body = endpoint(plugin_runtime, fleet, "/history?seconds=60").json()
    charted = sorted((g["host"], g["gpu_index"]) for g in body["gpus"])
    assert charted == [("dcgm-node-1", 0), ("dcgm-node-1", 1), *((h, 0) for h in HOSTS)]
    assert all(g["points"] for g in body["gpus"])
    assert body["source"] == "replay"


def test_the_usage_csv_endpoint_reads_the_counters(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    text = endpoint(plugin_runtime, fleet, "/usage.csv?window=1h&group_by=team").body.decode()
    teams = {line.split(",")[0] for line in text.splitlines()[1:]}
    assert {"customer-care", "research"} <= teams


def test_the_usage_endpoint_cuts_the_window_into_steps_that_add_up_to_its_rows(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    body = endpoint(plugin_runtime, fleet, "/usage?window=1h&group_by=app&bucket_s=600").json()
    steps = body["buckets"]
    assert [round(b["to_t"] - b["from_t"]) for b in steps] == [600] * 6
    assert steps[-1]["rows"]  # the collectors run now
    stepped: dict[str, float] = {}
    for step in steps:
        for row in step["rows"]:
            stepped[row["group"]] = stepped.get(row["group"], 0.0) + row["gpu_seconds"]
    totals = {row["group"]: row["gpu_seconds"] for row in body["rows"]}
    assert stepped == pytest.approx(totals) and set(totals) == {"support-bot", "nightly-eval"}


def test_an_app_scope_shows_its_apps_processes_and_usage_and_every_gpu(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    scope = {"prometheus_apps": "support-bot"}
    processes = tool(plugin_runtime, fleet, "gpu_processes", {"group_by": "app"}, **scope)
    assert [r["consumer"] for r in processes.jsons[0]["consumers"]] == ["support-bot"]
    usage = tool(plugin_runtime, fleet, "gpu_usage_report", {"window": "1h"}, **scope)
    assert [r["group"] for r in usage.jsons[0]["rows"]] == ["support-bot"]
    status = tool(plugin_runtime, fleet, "gpu_status", {}, **scope)
    assert status.variables["gpu_count"] == 5


# -- one sentence for each way the settings can be wrong ------------------------------------


def refusal(runtime: PluginRuntime, credentials: dict[str, Any]) -> str:
    ok, message = runtime.validate_credentials(credentials)
    assert not ok and message is not None
    assert "\n" not in message and message.endswith("."), message
    assert PASSWORD not in message
    return message


def test_a_wrong_password_in_the_url_is_refused_without_echoing_it(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    wrong = fleet.url.replace(PASSWORD, "not-" + PASSWORD)
    message = refusal(plugin_runtime, {"prometheus_url": wrong})
    assert message == (
        f"Prometheus at {fleet.prometheus.url} refused the credentials (HTTP 401); check "
        "prometheus_token (a bearer token), or the user and password in prometheus_url."
    )
    assert "not-" not in message


def test_a_token_that_prometheus_does_not_take_is_refused(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    credentials = {"prometheus_url": fleet.prometheus.url, "prometheus_token": "wrong-token"}
    assert "refused the credentials (HTTP 401)" in refusal(plugin_runtime, credentials)


def test_a_url_where_nothing_listens_is_unreachable(plugin_runtime: PluginRuntime) -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"
    assert refusal(plugin_runtime, {"prometheus_url": url}) == (
        f"Cannot connect to Prometheus at {url} (connection refused); check prometheus_url and "
        "that Prometheus is reachable from the Dify plugin daemon."
    )


def test_a_url_of_something_else_is_not_prometheus(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    url = fleet.collectors[0].url  # a collector answers 404 to the Prometheus API
    assert refusal(plugin_runtime, {"prometheus_url": url}) == (
        f"{url} answered /api/v1/status/buildinfo with HTTP 404, not the Prometheus HTTP API; "
        "check prometheus_url (the base URL, e.g. http://prometheus:9090)."
    )


def test_a_prometheus_without_gpu_series_says_so(
    plugin_runtime: PluginRuntime, tmp_path: Path
) -> None:
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": []}
    with PrometheusServer(config, tmp_path) as empty:
        message = refusal(plugin_runtime, {"prometheus_url": empty.url})
    assert message.startswith(f"Prometheus at {empty.url} holds no GPU series (neither GPU Insight")


def test_a_selector_that_matches_nothing_says_which(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    credentials = fleet.credentials(prometheus_selector='cluster="nowhere"')
    assert refusal(plugin_runtime, credentials) == (
        f"Prometheus at {fleet.prometheus.url} holds GPU series, but none under "
        "prometheus_selector 'cluster=\"nowhere\"'; check its label names and values."
    )


def test_a_query_that_gets_no_answer_times_out(plugin_runtime: PluginRuntime) -> None:
    with SilentServer() as silent:
        started = time.monotonic()
        result = plugin_runtime.invoke_tool("gpu_status", {}, {"prometheus_url": silent.url})
    assert result.error == (
        f"Prometheus at {silent.url} did not answer a query within 5 s; check its load, or "
        "narrow prometheus_selector to fewer series."
    )
    assert time.monotonic() - started < 5 + 3


def test_a_query_prometheus_refuses_is_one_sentence(plugin_runtime: PluginRuntime) -> None:
    refused = CannedReply.json(
        400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
    )
    with CannedServer({"/api/v1/query": refused}) as server:
        result = plugin_runtime.invoke_tool("gpu_status", {}, {"prometheus_url": server.url})
    assert result.error == (
        f"Prometheus at {server.url} could not run a query (bad_data: 'parse error'); check "
        "prometheus_selector."
    )


# -- last: one host goes away -----------------------------------------------------------------


def test_a_collector_stopped_mid_test_is_named_down_and_the_rest_answer(
    plugin_runtime: PluginRuntime, fleet: Fleet
) -> None:
    stopped = fleet.collectors[2]
    stopped.stop()
    address = urllib.parse.urlsplit(stopped.url).netloc
    fleet.prometheus.wait_for(
        lambda: fleet.prometheus.query(f'up{{instance="{address}"}} == 0'),
        SETTLE_TIMEOUT_S,
        "Prometheus to see the stopped collector down",
    )
    result = tool(plugin_runtime, fleet, "gpu_status", {})
    answer = result.jsons[0]
    assert sorted({g["host"] for g in answer["gpus"]}) == ["dcgm-node-1", *HOSTS[:2]]
    [missing] = answer["missing_collectors"]
    assert missing == {
        "url": address,
        "reason": f"Prometheus reports the target {address} (job gpu-insight, host gpu-node-3) "
        "down: its last scrape failed (up == 0); check that the exporter runs and that "
        "Prometheus can reach it.",
    }
    assert result.variables["healthy"] is False
    assert f"Missing: Prometheus reports the target {address}" in result.text
