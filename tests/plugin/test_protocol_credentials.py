"""Saving the settings page (validate_tool_credentials) through the SDK's stdio runtime."""

from __future__ import annotations

from gpu_insight.schemas import SERVICE_NAME
from tests.support.canned_http import CannedReply, CannedServer, SilentServer
from tests.support.collector_process import CollectorProcess
from tests.support.plugin_runtime import PluginRuntime

HEALTHY = {
    "status": "ok",
    "service": SERVICE_NAME,
    "api_version": "v1",
    "schema_version": 1,
    "source": "replay",
    "gpu_count": 1,
}


def test_a_reachable_collector_with_its_token_is_accepted(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    ok, message = plugin_runtime.validate_credentials(
        {"collector_url": replay_collector.url, "collector_token": replay_collector.token}
    )
    assert (ok, message) == (True, None)


def test_several_collectors_separated_by_commas_are_all_checked(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess, collector_down_url: str
) -> None:
    ok, message = plugin_runtime.validate_credentials(
        {
            "collector_url": f"{replay_collector.url}, {collector_down_url}",
            "collector_token": replay_collector.token,
        }
    )
    assert not ok
    assert message is not None and collector_down_url in message


def test_an_unreachable_collector_is_named_with_the_cause(
    plugin_runtime: PluginRuntime, collector_down_url: str
) -> None:
    ok, message = plugin_runtime.validate_credentials({"collector_url": collector_down_url})
    assert not ok
    assert message == (
        f"Cannot connect to the GPU Insight collector at {collector_down_url} (connection "
        "refused); check that the collector is running and that this URL is reachable from "
        "the Dify plugin daemon."
    )


def test_a_wrong_token_is_reported_as_refused_without_echoing_it(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    wrong_token = "not-the-right-token-4b1d"
    ok, message = plugin_runtime.validate_credentials(
        {"collector_url": replay_collector.url, "collector_token": wrong_token}
    )
    assert not ok
    assert message == (
        f"The GPU Insight collector at {replay_collector.url} refused the token (HTTP 403); "
        "enter the token the collector was started with (--token or GPU_INSIGHT_TOKEN)."
    )
    assert wrong_token not in plugin_runtime.stderr


def test_a_missing_token_is_reported_as_required(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    ok, message = plugin_runtime.validate_credentials({"collector_url": replay_collector.url})
    assert not ok
    assert message == (
        f"The GPU Insight collector at {replay_collector.url} requires a token (HTTP 401); "
        "enter the collector's token in the settings."
    )


def test_a_collector_that_never_answers_times_out_within_five_seconds(
    plugin_runtime: PluginRuntime,
) -> None:
    with SilentServer() as silent:
        ok, message = plugin_runtime.validate_credentials(
            {"collector_url": silent.url}, timeout_s=20
        )
    assert not ok
    assert message == (
        f"The GPU Insight collector at {silent.url} did not answer within 5 s; check that the "
        "host is up and that no firewall silently drops traffic to its port."
    )


def test_a_web_page_instead_of_a_collector_is_not_a_collector(
    plugin_runtime: PluginRuntime,
) -> None:
    page = CannedReply(200, b"<html>Welcome to nginx</html>", "text/html")
    with CannedServer({"/healthz": page}) as server:
        ok, message = plugin_runtime.validate_credentials({"collector_url": server.url})
    assert not ok
    assert message == (
        f"{server.url} answered /healthz with something other than a JSON object, so it is "
        "not a GPU Insight collector; check the host and port."
    )


def test_another_json_service_is_not_a_collector(plugin_runtime: PluginRuntime) -> None:
    other = CannedReply.json(200, {"status": "ok", "service": "node-exporter"})
    with CannedServer({"/healthz": other}) as server:
        ok, message = plugin_runtime.validate_credentials({"collector_url": server.url})
    assert not ok
    assert message == (
        f"{server.url} answered /healthz as service 'node-exporter', not "
        "'gpu-insight-collector'; check the host and port of the GPU Insight collector."
    )


def test_a_collector_with_another_schema_version_is_incompatible(
    plugin_runtime: PluginRuntime,
) -> None:
    newer = CannedReply.json(200, {**HEALTHY, "schema_version": 2})
    with CannedServer({"/healthz": newer}) as server:
        ok, message = plugin_runtime.validate_credentials({"collector_url": server.url})
    assert not ok
    assert message == (
        f"The collector at {server.url} uses schema version 2 but this plugin reads version 1; "
        "upgrade the collector or the plugin so that they match."
    )


def test_a_collector_with_another_api_version_is_incompatible(
    plugin_runtime: PluginRuntime,
) -> None:
    newer = CannedReply.json(200, {**HEALTHY, "api_version": "v2"})
    with CannedServer({"/healthz": newer}) as server:
        ok, message = plugin_runtime.validate_credentials({"collector_url": server.url})
    assert not ok
    assert message == (
        f"The collector at {server.url} speaks API 'v2' but this plugin needs 'v1'; upgrade "
        "the collector or the plugin so that they match."
    )


def test_a_url_that_is_not_http_names_the_setting(plugin_runtime: PluginRuntime) -> None:
    ok, message = plugin_runtime.validate_credentials({"collector_url": "gpu-host:9470"})
    assert not ok
    assert message == (
        "collector_url 'gpu-host:9470' is not an http(s) URL; enter e.g. http://gpu-host:9470, "
        "several separated by commas."
    )


def test_a_negative_price_names_the_setting(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    ok, message = plugin_runtime.validate_credentials(
        {
            "collector_url": replay_collector.url,
            "collector_token": replay_collector.token,
            "price_per_gpu_hour": "-1",
        }
    )
    assert not ok
    assert message == (
        "price_per_gpu_hour '-1' is not accepted; enter a number of 0 or more, e.g. 2.5, or "
        "leave it empty."
    )
