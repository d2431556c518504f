"""`/v1/usage`: the window and grouping it accepts, and clear refusals of anything else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_insight.collector.accounting import UsageLedger
from gpu_insight.collector.config import AccountingConfig
from gpu_insight.collector.params import usage_window
from gpu_insight.schemas import UsageReport
from tests.collector.api_support import (
    NOW,
    ServedApi,
    TabledUsage,
    make_runtime,
    serving_a_sample,
)
from tests.support.instant_forms import ACCEPTED, EXAMPLE_TAIL, MAX_MESSAGE_CHARS, REFUSED


@pytest.fixture(scope="module")
def api() -> Iterator[ServedApi]:
    with serving_a_sample() as served:
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


@pytest.mark.parametrize(("text", "seconds"), ACCEPTED)
def test_every_accepted_instant_is_read_as_the_plugin_reads_it(
    api: ServedApi, text: str, seconds: float
) -> None:
    response = api.get("/v1/usage", params={"to": text})
    assert response.status_code == 200, response.text
    assert last_call(api)[1] == seconds


@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_every_refused_instant_is_400_naming_the_parameter(
    api: ServedApi, text: str, problem: str
) -> None:
    response = api.get("/v1/usage", params={"from": text})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert re.fullmatch(
        rf"from: '.+ {re.escape(problem)}{re.escape(EXAMPLE_TAIL)}", body["message"]
    )
    assert len(body["message"]) <= MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("group_by=user", "group_by: Input should be 'app', 'team', 'model', 'container' or 'gpu'"),
        ("from=2000&to=1000", "from: must be earlier than to"),
        ("to=", "to: String should have at least 1 character"),
        ("to=%20%20", "to: give an ISO-8601 time or epoch seconds, or leave the parameter out."),
    ],
)
def test_bad_values_are_400_naming_the_parameter(api: ServedApi, query: str, message: str) -> None:
    response = api.get(f"/v1/usage?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"
    assert response.json()["message"].startswith(message)


def test_an_instant_past_sqlites_integers_is_refused_by_the_real_books(tmp_path: Path) -> None:
    runtime = make_runtime()
    runtime.usage = UsageLedger(AccountingConfig(db_path=str(tmp_path / "usage.sqlite3")))
    with serving_a_sample(runtime) as served:
        response = served.get("/v1/usage?to=9300000000000000000")
    assert response.status_code == 400
    assert response.json()["message"].startswith("to: '9300000000000000000' is out of range")


def test_from_defaults_to_a_day_before_an_explicit_to() -> None:
    assert usage_window(None, "100000", now=NOW) == (100000 - 86400, 100000)
