"""Bearer tokens over HTTP: 401 without, 403 wrong, 200 right; project tokens see their apps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpu_insight.schemas import GpuDetail, Snapshot
from tests.collector.api_support import (
    ADMIN_TOKEN,
    PROJECT_TOKEN,
    ServedApi,
    make_runtime,
    publish,
    sample_snapshot,
)

PROTECTED = ["/v1/snapshot", "/v1/gpus/0", "/v1/history", "/v1/alerts", "/v1/usage", "/metrics"]
PUBLIC = ["/healthz", "/", "/openapi.json"]


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot())
        yield served


@pytest.fixture(scope="module")
def open_api() -> Iterator[ServedApi]:
    runtime = make_runtime(admin_token=None, with_project=False)
    with ServedApi(runtime) as served:
        publish(runtime, sample_snapshot())
        yield served


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_route_without_token_is_401_with_bearer_challenge(
    api: ServedApi, path: str
) -> None:
    response = api.get(path, token=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "token_required"


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_route_with_wrong_token_is_403(api: ServedApi, path: str) -> None:
    response = api.get(path, token="not-the-token")
    assert response.status_code == 403
    assert response.json()["error"] == "token_refused"


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_route_with_admin_token_is_200(api: ServedApi, path: str) -> None:
    assert api.get(path, token=ADMIN_TOKEN).status_code == 200


@pytest.mark.parametrize("path", PUBLIC)
def test_public_route_needs_no_token(api: ServedApi, path: str) -> None:
    assert api.get(path, token=None).status_code == 200


def test_refusal_never_echoes_a_token(api: ServedApi) -> None:
    guess = ADMIN_TOKEN + "-guess"
    response = api.get("/v1/snapshot", token=guess)
    assert guess not in response.text and ADMIN_TOKEN not in response.text


def test_token_in_another_scheme_is_treated_as_missing(api: ServedApi) -> None:
    basic = {"Authorization": f"Basic {ADMIN_TOKEN}"}
    response = api.get("/v1/snapshot", token=None, headers=basic)
    assert response.status_code == 401


def test_without_configured_tokens_no_token_is_needed(open_api: ServedApi) -> None:
    assert open_api.get("/v1/snapshot", token=None).status_code == 200
    assert open_api.get("/metrics", token=None).status_code == 200


def test_project_token_sees_every_gpu_but_only_its_apps_processes(api: ServedApi) -> None:
    response = api.get("/v1/snapshot", token=PROJECT_TOKEN)
    assert response.status_code == 200
    snapshot = Snapshot.model_validate(response.json())
    assert len(snapshot.gpus) == 2
    assert {p.attribution.app for p in snapshot.processes} == {"support-bot"}
    assert [e.app for e in snapshot.engines] == ["support-bot"]


def test_project_token_sees_no_foreign_processes_on_a_gpu(api: ServedApi) -> None:
    detail = GpuDetail.model_validate(api.get("/v1/gpus/1", token=PROJECT_TOKEN).json())
    assert detail.gpu.index == 1
    assert detail.processes == []
    assert detail.engines == []


def test_project_token_never_sees_foreign_command_lines(api: ServedApi) -> None:
    response = api.get("/v1/snapshot", token=PROJECT_TOKEN)
    assert "train.py" not in response.text and "tgi-search" not in response.text


def test_project_token_metrics_hold_only_its_apps(api: ServedApi) -> None:
    text = api.get("/metrics", token=PROJECT_TOKEN).text
    assert 'app="support-bot"' in text
    assert 'app="search"' not in text and 'app="unattributed"' not in text


def test_project_token_usage_is_limited_to_its_apps(api: ServedApi) -> None:
    report = api.get("/v1/usage", token=PROJECT_TOKEN).json()
    assert [row["group"] for row in report["rows"]] == ["support-bot"]
    assert api.runtime.usage.calls[-1].apps == {"support-bot"}  # type: ignore[attr-defined]
