"""`/v1/usage`: the window and grouping it accepts, and clear refusals of anything else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpu_insight.collector.params import parse_instant, usage_window
from gpu_insight.schemas import UsageReport
from tests.collector.api_support import NOW, ServedApi, TabledUsage, make_runtime, publish
from tests.collector.api_support import sample_snapshot as snapshot


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    runtime = make_runtime()
    with ServedApi(runtime) as served:
        publish(runtime, snapshot())
        yield served


def last_call(api: ServedApi) -> tuple[float, float, str]:
    usage = api.runtime.usage
    assert isinstance(usage, TabledUsage)
    call = usage.calls[-1]
    return call.from_t, call.to_t, call.group_by


def test_defaults_are_the_last_24_hours_by_app(api: ServedApi) -> None:
    response = api.get("/v1/usage")
    assert response.status_code == 200
    report = UsageReport.model_validate(response.json())
    assert report.source == "replay"
    assert [row.group for row in report.rows] == ["search", "support-bot", "unattributed"]
    assert last_call(api) == (NOW - 86400, NOW, "app")


def test_epoch_seconds_window_and_grouping_are_passed_on(api: ServedApi) -> None:
    response = api.get("/v1/usage?from=1000&to=4600.5&group_by=team")
    assert response.status_code == 200
    assert last_call(api) == (1000.0, 4600.5, "team")


def test_steps_are_passed_on(api: ServedApi) -> None:
    assert api.get("/v1/usage?bucket_s=3600").status_code == 200
    usage = api.runtime.usage
    assert isinstance(usage, TabledUsage)
    assert usage.calls[-1].bucket_s == 3600


def test_iso_times_are_accepted(api: ServedApi) -> None:
    response = api.get("/v1/usage?from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00%2B02:00")
    assert response.status_code == 200
    assert last_call(api)[:2] == (1735689600.0, 1735768800.0)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("group_by=user", "group_by must be one of app, team, model, container, gpu"),
        ("from=yesterday", "from must be epoch seconds or an ISO-8601 time"),
        ("to=-5", "to must be non-negative epoch seconds"),
        ("from=2000&to=1000", "from must be earlier than to"),
    ],
)
def test_bad_values_are_400_naming_the_parameter(api: ServedApi, query: str, detail: str) -> None:
    response = api.get(f"/v1/usage?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid parameter"
    assert response.json()["detail"].startswith(detail)


def test_naive_iso_time_is_read_as_utc() -> None:
    assert parse_instant("1970-01-01T01:00:00", "from") == 3600.0


def test_from_defaults_to_a_day_before_an_explicit_to() -> None:
    assert usage_window(None, "100000", now=NOW) == (100000 - 86400, 100000)
