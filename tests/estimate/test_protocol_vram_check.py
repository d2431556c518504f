"""vram_check and POST /vram-check through the SDK's stdio runtime, live from a replay collector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gpu_insight.estimate.catalog import lookup
from tests.support.checkpoints import decoder_tensors, tensor_bytes
from tests.support.collector_process import CollectorProcess
from tests.support.hub_server import HubServer, sharded_repo
from tests.support.plugin_runtime import PluginRuntime

FINE_TUNE = "acme/qwen2.5-7b-support"  # a Qwen2.5-7B fine-tune the catalog does not list
QWEN_7B = dict(lookup("qwen2.5:7b").config)

API_KEY = "endpoint-key-0123456789abcdef"


@pytest.fixture(scope="module")
def hub_server() -> Iterator[HubServer]:
    with HubServer() as server:
        server.repos = {FINE_TUNE: sharded_repo(QWEN_7B, decoder_tensors(QWEN_7B), 4)}
        yield server


@pytest.fixture(scope="module")
def credentials(replay_collector: CollectorProcess, hub_server: HubServer) -> dict[str, Any]:
    return {
        "collector_url": replay_collector.url,
        "collector_token": replay_collector.token,
        "hf_endpoint": hub_server.url,
    }


def test_a_model_not_in_the_catalog_is_read_from_the_hub_with_exact_weights(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any], hub_server: HubServer
) -> None:
    result = plugin_runtime.invoke_tool("vram_check", {"model": FINE_TUNE}, credentials)
    assert result.error is None, result.error
    answer = result.jsons[0]
    header_sum = tensor_bytes(decoder_tensors(QWEN_7B))
    assert answer["model_source"] == "hub"
    assert answer["model_reference"].startswith(f"{hub_server.url}/{FINE_TUNE} at ")
    assert answer["weights_mib"] == pytest.approx(header_sum / 2**20, abs=0.1)
    assert hub_server.served.data_ranges == []


def test_a_catalog_model_is_placed_on_the_live_gpus(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool(
        "vram_check",
        {"model": "qwen2.5:0.5b", "engine": "vllm", "context_length": 4096},
        credentials,
    )
    assert result.error is None, result.error
    answer = result.jsons[0]
    assert answer["live_data"] is True and answer["gpus"]
    assert set(result.variables) == set(plugin_runtime.declared_variables("vram_check"))
    assert result.variables["fits"] is answer["fits"]
    assert result.variables["required_mib"] == answer["required_mib"]
    if answer["fits"]:
        assert "--gpu-memory-utilization" in answer["flags"]
    assert len(result.texts) == 1 and "Qwen2.5-0.5B" in result.texts[0]


def test_a_pasted_config_is_estimated(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    config = json.dumps(lookup("llama3.2:1b").config)
    result = plugin_runtime.invoke_tool(
        "vram_check",
        {"model": "my-llama", "model_config": config, "engine": "transformers"},
        credentials,
    )
    assert result.error is None, result.error
    assert result.jsons[0]["model_source"] == "pasted"
    assert result.jsons[0]["parameters_b"] == pytest.approx(1.24, rel=0.01)


def test_without_a_collector_the_requirement_is_still_answered(
    plugin_runtime: PluginRuntime, collector_down_url: str
) -> None:
    result = plugin_runtime.invoke_tool(
        "vram_check", {"model": "llama3.1:8b"}, {"collector_url": collector_down_url}
    )
    assert result.error is None, result.error
    answer = result.jsons[0]
    assert answer["live_data"] is False and answer["common_gpus"]
    assert answer["notes"][0].startswith("live GPU data missing")
    assert result.variables["fits"] is False


def test_a_bad_parameter_fails_the_node_with_its_name(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    result = plugin_runtime.invoke_tool(
        "vram_check", {"model": "qwen2.5:7b", "tensor_parallel": "3"}, credentials
    )
    assert result.error is not None and "tensor_parallel" in result.error


def test_post_vram_check_answers_the_same_json(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    settings = {
        "collector_url": replay_collector.url,
        "collector_token": replay_collector.token,
        "api_key": API_KEY,
    }
    response = plugin_runtime.invoke_endpoint(
        "POST",
        "/vram-check",
        headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
        body=json.dumps({"model": "qwen2.5:0.5b", "context_length": 4096}).encode(),
        settings=settings,
    )
    assert response.status == 200
    body = response.json()
    assert body["model"] == "Qwen/Qwen2.5-0.5B-Instruct" and body["live_data"] is True


def test_post_vram_check_needs_the_key_and_reports_bad_input_as_400(
    plugin_runtime: PluginRuntime, replay_collector: CollectorProcess
) -> None:
    settings = {"collector_url": replay_collector.url, "api_key": API_KEY}
    assert (
        plugin_runtime.invoke_endpoint("POST", "/vram-check", body=b"{}", settings=settings).status
        == 401
    )
    response = plugin_runtime.invoke_endpoint(
        "POST",
        "/vram-check",
        headers={"X-Api-Key": API_KEY},
        body=json.dumps({"model": "qwen2.5:7b", "concurrency": 0}).encode(),
        settings=settings,
    )
    assert response.status == 400 and "concurrency" in response.json()["message"]


@pytest.mark.parametrize(
    "model",
    [
        "openai/gpt-oss-20b",
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "Qwen/Qwen3-Next-80B-A3B-Instruct",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "Qwen/Qwen3-Embedding-8B",
    ],
)
def test_the_models_people_serve_now_answer_from_the_catalog(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any], model: str
) -> None:
    result = plugin_runtime.invoke_tool("vram_check", {"model": model}, credentials)
    assert result.error is None, result.error
    answer = result.jsons[0]
    assert answer["model"] == model and answer["model_source"] == "catalog"
    assert result.variables["fits"] is bool(answer["fits"])
    assert result.variables["starts"] is bool(answer["starts"])
    if not answer["fits"]:
        assert result.variables["alternative"] == answer["alternatives"][0]["text"]


def test_a_request_that_starts_but_cannot_serve_its_sequences_does_not_fit(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    params = {
        "model": "meta-llama/Llama-3.1-70B-Instruct",
        "engine": "vllm",
        "quantization": "awq",
        "context_length": 16384,
        "concurrency": 8,
    }
    result = plugin_runtime.invoke_tool("vram_check", params, credentials)
    assert result.error is None, result.error
    variables, answer = result.variables, result.jsons[0]
    assert variables["fits"] is False and variables["starts"] is True
    assert variables["max_concurrency"] < 8
    assert "fits now" not in result.texts[0]
    assert ", not 16,384 tokens × 8; at 16,384 tokens it serves " in result.texts[0]
    best = answer["alternatives"][0]
    assert variables["alternative"] == best["text"]
    # applied with its exact flags (the replayed GPU's free memory drifts by a few hundred MiB)
    util = best["flags"].split("--gpu-memory-utilization ")[1].split()[0]
    applied = {**params, **best["parameters"], "gpu_memory_utilization": util}
    again = plugin_runtime.invoke_tool("vram_check", applied, credentials)
    assert again.variables["fits"] is True and again.jsons[0]["flags"] == best["flags"]


def test_a_model_too_large_for_the_free_memory_lists_what_would_fit(
    plugin_runtime: PluginRuntime, credentials: dict[str, Any]
) -> None:
    params = {"model": "Qwen/Qwen3-30B-A3B", "context_length": 32768}
    result = plugin_runtime.invoke_tool("vram_check", params, credentials)
    assert result.error is None, result.error
    answer = result.jsons[0]
    assert answer["fits"] is False and answer["alternatives"]
    changes = [a["change"] for a in answer["alternatives"]]
    assert "quantization" in changes
    assert "Would fit: " in result.texts[0]


def test_a_gpu_type_is_planned_without_the_collector(
    plugin_runtime: PluginRuntime, collector_down_url: str
) -> None:
    result = plugin_runtime.invoke_tool(
        "vram_check",
        {"model": "llama4:scout", "gpu_type": "H200"},
        {"collector_url": collector_down_url},
    )
    assert result.error is None, result.error
    answer = result.jsons[0]
    assert answer["gpu_type"] == "NVIDIA H200 141GB" and answer["fits"] is True
    assert result.variables["kv_cache_tokens"] == answer["kv_cache_tokens"] > 0
