"""The collector's JSON API under real uvicorn: shapes, sources, errors, health, dashboard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpu_insight.instants import INSTANT_PATTERN
from gpu_insight.schemas import (
    SERVICE_NAME,
    AlertList,
    GpuDetail,
    Health,
    History,
    Snapshot,
    UsageReport,
)
from gpu_insight.web import static_asset
from tests.collector.api_support import (
    GPU0_UUID,
    GPU1_UUID,
    HOST,
    NOW,
    ServedApi,
    TabledUsage,
    make_runtime,
    publish,
    sample_snapshot,
)


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        for step in range(5, 0, -1):  # five one-second samples, the last at NOW - 0.5
            publish(runtime, sample_snapshot(collected_at=NOW - 0.5 - step + 1))
        yield served


@pytest.fixture
def empty_api() -> Iterator[ServedApi]:
    with ServedApi(make_runtime()) as served:
        yield served


def assert_json_error(response_json: dict, error: str) -> None:
    assert set(response_json) == {"error", "message"}
    assert response_json["error"] == error
    assert isinstance(response_json["message"], str) and response_json["message"]
    assert "Traceback" not in response_json["message"]


def test_snapshot_is_the_published_snapshot(api: ServedApi) -> None:
    response = api.get("/v1/snapshot")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert Snapshot.model_validate(response.json()) == sample_snapshot()


def test_snapshot_answers_with_source_service_and_host(api: ServedApi) -> None:
    body = api.get("/v1/snapshot").json()
    assert (body["source"], body["service"], body["host"]) == ("replay", SERVICE_NAME, HOST)


def test_data_answers_are_not_cached(api: ServedApi) -> None:
    assert api.get("/v1/snapshot").headers["cache-control"] == "no-store"


@pytest.mark.parametrize("key", ["1", GPU1_UUID])
def test_gpu_by_index_or_uuid_holds_its_processes_engines_and_alerts(
    api: ServedApi, key: str
) -> None:
    response = api.get(f"/v1/gpus/{key}")
    assert response.status_code == 200
    detail = GpuDetail.model_validate(response.json())
    assert (detail.gpu.index, detail.gpu.uuid, detail.source) == (1, GPU1_UUID, "replay")
    assert sorted(p.pid for p in detail.processes) == [777, 5151]
    assert [e.engine for e in detail.engines] == ["tgi"]
    assert detail.alerts == []


def test_gpu_detail_carries_the_gpus_alerts(api: ServedApi) -> None:
    detail = GpuDetail.model_validate(api.get("/v1/gpus/0").json())
    assert [a.rule for a in detail.alerts] == ["gpu_memory_high"]


def test_unknown_gpu_is_404_json_listing_known_indexes(api: ServedApi) -> None:
    response = api.get("/v1/gpus/9")
    assert response.status_code == 404
    assert_json_error(response.json(), "unknown_gpu")
    assert "0, 1" in response.json()["message"]


def test_history_defaults_to_fifteen_minutes_at_one_second(api: ServedApi) -> None:
    response = api.get("/v1/history")
    assert response.status_code == 200
    history = History.model_validate(response.json())
    assert (history.source, history.resolution_s) == ("replay", 1.0)
    assert history.to_t - history.from_t == 900
    assert [g.gpu_uuid for g in history.gpus] == [GPU0_UUID, GPU1_UUID]
    assert len(history.gpus[0].points) == 5
    assert history.gpus[0].points[-1].memory_used_mib == 71512.0


def test_history_of_one_gpu(api: ServedApi) -> None:
    history = History.model_validate(api.get("/v1/history?seconds=60&gpu=1").json())
    assert [g.gpu_index for g in history.gpus] == [1]


def test_history_beyond_fifteen_minutes_uses_ten_second_points(api: ServedApi) -> None:
    history = History.model_validate(api.get("/v1/history?seconds=3600").json())
    assert history.resolution_s == 10.0


def test_history_in_steps_says_the_step_it_used(api: ServedApi) -> None:
    history = History.model_validate(api.get("/v1/history?seconds=3600&step_s=288").json())
    assert history.resolution_s == 290.0  # whole 10 s points
    assert all(p.t % 290 == 0 for g in history.gpus for p in g.points)


@pytest.mark.parametrize("step", ["0", "-1", "86401", "wide"])
def test_history_step_out_of_range_is_400_naming_the_parameter(api: ServedApi, step: str) -> None:
    response = api.get(f"/v1/history?step_s={step}")
    assert response.status_code == 400
    assert_json_error(response.json(), "invalid_parameter")
    assert response.json()["message"].startswith("step_s:")


@pytest.mark.parametrize("seconds", ["0", "-1", "86401", "soon"])
def test_history_window_out_of_range_is_400_naming_the_parameter(
    api: ServedApi, seconds: str
) -> None:
    response = api.get(f"/v1/history?seconds={seconds}")
    assert response.status_code == 400
    assert_json_error(response.json(), "invalid_parameter")
    assert response.json()["message"].startswith("seconds:")


def test_unknown_gpu_is_quoted_not_echoed(api: ServedApi) -> None:
    response = api.get("/v1/gpus/" + "7" * 10_000)
    assert response.status_code == 404
    assert len(response.json()["message"]) < 200


def test_history_of_unknown_gpu_is_404(api: ServedApi) -> None:
    response = api.get("/v1/history?gpu=GPU-nope")
    assert response.status_code == 404
    assert_json_error(response.json(), "unknown_gpu")


def test_alerts_lists_active_alerts_only_by_default(api: ServedApi) -> None:
    alerts = AlertList.model_validate(api.get("/v1/alerts").json())
    assert (alerts.host, alerts.source) == (HOST, "replay")
    assert [(a.rule, a.state) for a in alerts.alerts] == [("gpu_memory_high", "firing")]


def test_alerts_include_resolved_on_request(api: ServedApi) -> None:
    alerts = AlertList.model_validate(api.get("/v1/alerts?include_resolved=true").json())
    assert [a.state for a in alerts.alerts] == ["firing", "resolved"]


def test_alerts_flag_must_be_a_boolean(api: ServedApi) -> None:
    response = api.get("/v1/alerts?include_resolved=perhaps")
    assert response.status_code == 400
    assert_json_error(response.json(), "invalid_parameter")
    assert response.json()["message"].startswith("include_resolved:")


def test_healthz_needs_no_token_and_tells_nothing_about_processes(api: ServedApi) -> None:
    response = api.get("/healthz", token=None)
    assert response.status_code == 200
    health = Health.model_validate(response.json())
    assert (health.status, health.source, health.gpu_count) == ("ok", "replay", 2)
    assert health.last_sample_age_s == 0.5
    assert "process" not in response.text and "pid" not in response.text


def test_data_routes_are_503_with_a_reason_until_the_first_sample(empty_api: ServedApi) -> None:
    for path in ("/v1/snapshot", "/v1/gpus/0", "/v1/history"):
        response = empty_api.get(path)
        assert response.status_code == 503, path
        assert_json_error(response.json(), "no_data_yet")


def test_healthz_is_down_and_503_until_the_first_sample(empty_api: ServedApi) -> None:
    response = empty_api.get("/healthz", token=None)
    assert response.status_code == 503
    health = Health.model_validate(response.json())
    assert (health.status, health.gpu_count, health.reason) == ("down", 0, "no sample yet")


def test_backend_down_makes_data_routes_503_with_its_reason(empty_api: ServedApi) -> None:
    down = Snapshot(
        host=HOST,
        source="replay",
        collected_at=NOW - 1,
        health="down",
        health_reason="NVML driver not loaded",
    )
    publish(empty_api.runtime, down)
    response = empty_api.get("/v1/snapshot")
    assert response.status_code == 503
    assert response.json() == {"error": "backend_down", "message": "NVML driver not loaded"}
    health = empty_api.get("/healthz", token=None).json()
    assert (health["status"], health["reason"]) == ("down", "NVML driver not loaded")


def test_stale_sample_makes_health_degraded_with_its_age(empty_api: ServedApi) -> None:
    publish(empty_api.runtime, sample_snapshot(collected_at=NOW - 120))
    response = empty_api.get("/healthz", token=None)
    assert response.status_code == 200
    health = Health.model_validate(response.json())
    assert health.status == "degraded"
    assert health.reason == "the last sample is 120 s old (stale after 30 s)"


def test_unknown_route_is_404_json(api: ServedApi) -> None:
    response = api.get("/v2/snapshot")
    assert response.status_code == 404
    assert_json_error(response.json(), "not_found")


def test_wrong_method_is_405_json(api: ServedApi) -> None:
    response = api.session.post(api.url + "/v1/snapshot", timeout=5)
    assert response.status_code == 405
    assert_json_error(response.json(), "method_not_allowed")


def test_openapi_lists_every_data_route_and_the_bearer_scheme(api: ServedApi) -> None:
    spec = api.get("/openapi.json", token=None).json()
    assert {
        "/healthz",
        "/v1/snapshot",
        "/v1/gpus/{gpu}",
        "/v1/history",
        "/v1/alerts",
        "/v1/usage",
        "/metrics",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_openapi_documents_the_errors_sent_and_no_422(api: ServedApi) -> None:
    paths = api.get("/openapi.json", token=None).json()["paths"]
    answers = {
        path: {status for op in ops.values() for status in op["responses"]}
        for path, ops in paths.items()
    }
    assert all("422" not in statuses for statuses in answers.values())
    for path in ("/v1/alerts", "/v1/history", "/v1/usage"):
        assert {"200", "400", "401", "403", "503"} <= answers[path], path
    assert {"404"} <= answers["/v1/history"] & answers["/v1/gpus/{gpu}"]


def test_openapi_allows_no_empty_instant_and_gives_their_syntax(api: ServedApi) -> None:
    usage = api.get("/openapi.json", token=None).json()["paths"]["/v1/usage"]["get"]
    for parameter in (p for p in usage["parameters"] if p["name"] in ("from", "to")):
        assert parameter["schema"]["pattern"] == INSTANT_PATTERN
        assert parameter["schema"]["anyOf"][0]["minLength"] == 1


def test_dashboard_page_needs_no_token(api: ServedApi) -> None:
    response = api.get("/", token=None)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<html" in response.text.lower()


def test_dashboard_assets_are_served_with_their_content_type(api: ServedApi) -> None:
    body, content_type = static_asset("dashboard.js") or (b"", "")
    response = api.get("/static/dashboard.js", token=None)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == body


def test_unknown_asset_is_404_json(api: ServedApi) -> None:
    response = api.get("/static/../../etc/passwd", token=None)
    assert response.status_code == 404
    assert_json_error(response.json(), "not_found")


class FailingUsage(TabledUsage):
    def report(self, **_: object) -> UsageReport:
        raise RuntimeError("database is locked at /var/lib/secret/usage.sqlite3")


def test_unexpected_failure_is_500_json_without_internals() -> None:
    runtime = make_runtime()
    runtime.usage = FailingUsage({})
    with ServedApi(runtime) as served:
        response = served.get("/v1/usage")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "see the collector's log for details",
    }
