"""Pure plugin-side core: parameter parsing, settings, merging hosts, the key check."""

from __future__ import annotations

import logging

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gpu_insight.answers.params import (
    GpuSelector,
    parse_gpu_selector,
    parse_optional_choice,
    select_gpus,
)
from gpu_insight.answers.processes import answer_processes, parse_process_query
from gpu_insight.answers.status import answer_status, parse_status_query
from gpu_insight.errors import InputError, SettingsError
from gpu_insight.gateway import check_api_key, unexpected_error_response
from gpu_insight.sources.fleet import CollectorFleet, Gathered
from gpu_insight.sources.merge import merge_snapshots
from gpu_insight.sources.settings import (
    CollectorSettings,
    parse_collector_urls,
    parse_gpu_prices,
    parse_price_per_gpu_hour,
)
from tests.support.synthetic_trace import synthetic_snapshot


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, GpuSelector()),
        ("", GpuSelector()),
        ("ALL", GpuSelector()),
        (1, GpuSelector(index=1)),
        (" 2 ", GpuSelector(index=2)),
        (3.0, GpuSelector(index=3)),
        ("gpu-abc", GpuSelector(uuid="GPU-abc")),
        ("MIG-x", GpuSelector(uuid="MIG-x")),
    ],
)
def test_gpu_selector_accepts_all_an_index_or_a_uuid(value: object, expected: GpuSelector) -> None:
    assert parse_gpu_selector(value) == expected


@pytest.mark.parametrize("value", [-1, "1.5", True, "first", "GPU-", "--1", "²"])
def test_gpu_selector_rejects_anything_else_naming_the_parameter(value: object) -> None:
    with pytest.raises(InputError, match=r"^gpu: .*use 'all', a GPU index"):
        parse_gpu_selector(value)


@pytest.mark.parametrize("value", [-1, 1024, "2000"])
def test_gpu_index_out_of_range_names_the_accepted_range(value: object) -> None:
    with pytest.raises(InputError, match=r"is out of range; .*\(0 to 1023\)\.$"):
        parse_gpu_selector(value)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_an_empty_optional_choice_is_none(value: object) -> None:
    assert parse_optional_choice(value, "engine", ("vllm", "sglang")) is None


def test_an_optional_choice_is_read_case_insensitively_and_checked() -> None:
    assert parse_optional_choice(" SGLang ", "engine", ("vllm", "sglang")) == "sglang"
    with pytest.raises(InputError, match=r"^engine: 'trt' is not accepted; use one of vllm"):
        parse_optional_choice("trt", "engine", ("vllm", "sglang"))


def test_collector_urls_are_split_on_commas_normalised_and_deduplicated() -> None:
    assert parse_collector_urls(" http://a:9470/ ,https://b:1/x/, http://a:9470") == (
        "http://a:9470",
        "https://b:1/x",
    )


@pytest.mark.parametrize("value", ["http://admin:hunter2@gpu:9470", "admin:hunter2@gpu:9470"])
def test_collector_urls_with_credentials_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(SettingsError, match="must not contain a user name or password") as raised:
        parse_collector_urls(value)
    assert "hunter2" not in str(raised.value)


def test_a_collector_url_with_a_query_is_refused_echoing_only_its_base() -> None:
    with pytest.raises(SettingsError, match="must not have a query") as raised:
        parse_collector_urls("http://gpu:9470/?token=hunter2")
    assert "'http://gpu:9470'" in str(raised.value) and "hunter2" not in str(raised.value)


def test_a_collector_url_that_cannot_be_parsed_names_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^collector_url 'http://\[::1' is not an http"):
        parse_collector_urls("http://[::1")


@pytest.mark.parametrize("value", ["abc", "-0.5", "nan", "inf"])
def test_price_must_be_a_finite_non_negative_number(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^price_per_gpu_hour"):
        parse_price_per_gpu_hour(value)


def test_gpu_prices_are_read_per_type_in_the_order_given() -> None:
    assert parse_gpu_prices(" H100=2.5, L40S = 1.1;A100  40GB=1.2,, ") == {
        "H100": 2.5,
        "L40S": 1.1,
        "A100 40GB": 1.2,
    }
    assert parse_gpu_prices("") == {} and parse_gpu_prices(None) == {}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("H100", "has 'H100', not TYPE=PRICE"),
        ("=2.5", "has '=2.5', not TYPE=PRICE"),
        ("H100=cheap", "gives 'H100' no price of 0 or more"),
        ("H100=-1", "gives 'H100' no price of 0 or more"),
        ("H100=", "gives 'H100' no price of 0 or more"),
        ("H100=2, h100=3", "names 'h100' twice"),
        (2.5, "must be text"),
    ],
)
def test_bad_gpu_prices_name_the_setting_and_the_entry(value: object, problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_gpu_prices(value)
    assert str(raised.value) == (
        f"gpu_prices {problem}; enter a price per GPU-hour for each GPU type, e.g. "
        "H100=2.5, L40S=1.1, L4=0.6, or leave it empty."
    )
    assert raised.value.parameter == "gpu_prices"


def test_merging_two_hosts_labels_every_gpu_and_process_with_its_host() -> None:
    first = synthetic_snapshot(0)
    second = synthetic_snapshot(1).model_copy(update={"host": "gpu-node-2", "health": "degraded"})
    merged = merge_snapshots([first, second])
    assert merged.host == "gpu-node-1,gpu-node-2"
    assert merged.health == "degraded"
    assert [g.host for g in merged.gpus] == ["gpu-node-1"] * 2 + ["gpu-node-2"] * 2
    assert {p.host for p in merged.processes} == {"gpu-node-1", "gpu-node-2"}


def test_an_index_on_several_hosts_selects_one_gpu_per_host_unless_a_host_is_given() -> None:
    merged = merge_snapshots(
        [synthetic_snapshot(0), synthetic_snapshot(0).model_copy(update={"host": "gpu-node-2"})]
    )
    assert len(select_gpus(merged, GpuSelector(index=0))) == 2
    assert [g.host for g in select_gpus(merged, GpuSelector(index=0), host="gpu-node-2")] == [
        "gpu-node-2"
    ]


def test_status_summary_adds_free_memory_and_finds_the_largest() -> None:
    snapshot = merge_snapshots([synthetic_snapshot(0)])
    summary = answer_status(parse_status_query({}), Gathered(snapshot)).summary
    free = [g.memory_free_mib for g in snapshot.gpus if g.memory_free_mib is not None]
    assert len(free) == len(snapshot.gpus)
    assert summary.total_free_mib == round(sum(free), 1)
    assert summary.max_free_mib == round(max(free), 1)
    assert summary.healthy and summary.alerts_count == 0


def test_processes_grouped_by_app_put_unknown_apps_under_unattributed() -> None:
    snapshot = merge_snapshots([synthetic_snapshot(0)])
    view = answer_processes(parse_process_query({"group_by": "app"}), Gathered(snapshot))
    assert [(r.consumer, r.used_memory_mib) for r in view.rows] == [
        ("support-bot", 71000.0),
        ("unattributed", 9000.0),
    ]
    assert view.variables() == {
        "top_consumer": "support-bot",
        "top_consumer_mib": 71000.0,
        "unattributed_mib": 9000.0,
    }


def request_with(headers: dict[str, str] | None = None, query: str = "") -> Request:
    return Request(
        EnvironBuilder(path="/status", headers=Headers(headers), query_string=query).get_environ()
    )


def test_the_key_is_accepted_from_the_header_or_the_query() -> None:
    settings = {"api_key": "s3cret"}
    assert check_api_key(request_with({"X-Api-Key": "s3cret"}), settings) is None
    assert check_api_key(request_with(query="key=s3cret"), settings) is None


def test_a_missing_key_is_401_and_a_wrong_one_403_without_echoing_the_expected_key() -> None:
    settings = {"api_key": "s3cret"}
    missing = check_api_key(request_with(), settings)
    wrong = check_api_key(request_with({"X-Api-Key": "guess"}), settings)
    assert missing is not None and missing.status_code == 401
    assert wrong is not None and wrong.status_code == 403
    assert b"s3cret" not in wrong.get_data() and b"guess" not in wrong.get_data()


@pytest.mark.parametrize("position", ["1", "-0", "²", "first"])
def test_a_metrics_collector_position_outside_the_list_is_a_parameter_error(position: str) -> None:
    fleet = CollectorFleet.from_settings(CollectorSettings(urls=("http://gpu:9470",), token=None))
    with pytest.raises(InputError, match=r"^collector: .* use a position from 0 to 0"):
        fleet.pick(position)


def test_an_unexpected_endpoint_failure_is_logged_and_answered_with_a_fixed_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise RuntimeError("detail-that-must-not-leave")
    except RuntimeError:
        with caplog.at_level(logging.ERROR, logger="gpu_insight.gateway"):
            response = unexpected_error_response(request_with())
    assert response.status_code == 500 and response.get_json()["error"] == "internal_error"
    assert b"detail-that-must-not-leave" not in response.get_data()
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert caplog.records[0].getMessage() == "endpoint GET /status failed"


def test_an_endpoint_without_a_configured_key_refuses_everyone() -> None:
    response = check_api_key(request_with({"X-Api-Key": ""}), {"api_key": ""})
    assert response is not None and response.status_code == 500
