"""`/v1/advice` and `POST /v1/vram-check`: the library's answers served by the collector, so
its own dashboard has the advice panel and the "Will it fit?" form."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gpu_insight.answers.advice import answer_advice, parse_advice_query
from gpu_insight.answers.vram import answer_vram, parse_vram_request
from gpu_insight.collector.scope import scope_snapshot
from gpu_insight.sources.fleet import Gathered
from tests.collector.api_support import (
    PROJECT_APPS,
    PROJECT_TOKEN,
    ServedApi,
    make_runtime,
    publish,
    sample_snapshot,
)

FIT = {"model": "Qwen/Qwen2.5-7B-Instruct", "engine": "vllm", "context_length": 8192}


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot())
        yield served


def test_advice_is_serving_advice_over_the_latest_snapshot(api: ServedApi) -> None:
    response = api.get("/v1/advice?focus=memory")
    assert response.status_code == 200
    expected = answer_advice(parse_advice_query({"focus": "memory"}), Gathered(sample_snapshot()))
    assert response.json() == json.loads(json.dumps(expected.as_json()))
    assert response.json()["suggestions"], "the sample snapshot should call for advice"


def test_advice_for_a_project_token_sees_only_its_apps(api: ServedApi) -> None:
    response = api.get("/v1/advice", token=PROJECT_TOKEN)
    scoped = scope_snapshot(sample_snapshot(), frozenset(PROJECT_APPS))
    expected = answer_advice(parse_advice_query({}), Gathered(scoped)).as_json()
    assert response.json() == json.loads(json.dumps(expected))


def test_advice_with_a_bad_parameter_is_400_naming_it(api: ServedApi) -> None:
    response = api.get("/v1/advice?focus=speed")
    assert response.status_code == 400
    assert "focus: 'speed' is not accepted" in response.text


def test_advice_needs_the_token(api: ServedApi) -> None:
    assert api.get("/v1/advice", token=None).status_code == 401


def test_vram_check_places_the_model_on_this_hosts_gpus(api: ServedApi) -> None:
    response = api.post("/v1/vram-check", json.dumps(FIT).encode())
    assert response.status_code == 200
    answer = response.json()
    assert answer["live_data"] is True
    expected = answer_vram(parse_vram_request(FIT), lambda: Gathered(sample_snapshot()))
    assert answer == json.loads(json.dumps(expected.as_json()))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"model": "Qwen/Qwen2.5-7B-Instruct", "gpus": 2}', "unknown parameter(s): 'gpus'"),
        (b"[1, 2]", "The body must be a JSON object of vram_check parameters."),
        (b"{" * 40, "The body nests deeper than 32 levels"),
        (b'{"model": "' + b"x" * 300_000 + b'"}', "The body is over 256 KiB"),
    ],
)
def test_vram_check_refuses_a_bad_body_with_one_sentence(
    api: ServedApi, body: bytes, message: str
) -> None:
    response = api.post("/v1/vram-check", body)
    assert response.status_code == 400
    assert message in response.text


def test_vram_check_of_a_model_outside_the_catalog_asks_no_hub(api: ServedApi) -> None:
    body = {"model": "acme-labs/never-published-7b", "engine": "vllm"}
    response = api.post("/v1/vram-check", json.dumps(body).encode())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"
    assert "does not look models up on the Hugging Face Hub" in response.json()["message"]


def test_vram_check_needs_the_token(api: ServedApi) -> None:
    assert api.post("/v1/vram-check", json.dumps(FIT).encode(), token=None).status_code == 401
