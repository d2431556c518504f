"""Usage report parameters, merging across hosts, the table, its line and its CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from gpu_insight.answers.usage import UsageAnswer, answer_usage, usage_csv, usage_steps_json
from gpu_insight.answers.usage_query import UsageQuery, parse_time, parse_usage_query
from gpu_insight.errors import InputError
from gpu_insight.schemas import GpuUsage, ShareMethod, Source, UsageBucket, UsageReport, UsageRow
from gpu_insight.sources.fleet import Gathered, MissingCollector
from gpu_insight.sources.merge import merge_usage

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
PRICE = "price_per_gpu_hour"


def query(params: dict[str, Any], default_price: float | None = None) -> UsageQuery:
    return parse_usage_query(params, now=NOW, default_price=default_price, price_name=PRICE)


def usage_table(usage: UsageReport, parsed: UsageQuery) -> UsageAnswer:
    return answer_usage(parsed, Gathered(usage))


def row(group: str, gpu_hours: float, methods: list[ShareMethod] | None = None) -> UsageRow:
    return UsageRow(
        group=group,
        gpu_seconds=gpu_hours * 3600,
        gpu_hours=gpu_hours,
        memory_mib_seconds=gpu_hours * 3600 * 2048,
        energy_joules=gpu_hours * 3.6e6 * 0.5,
        share_methods=methods or ["sm_utilization"],
    )


def report(rows: list[UsageRow], host: str = "gpu-node-1", source: Source = "nvml") -> UsageReport:
    return UsageReport(
        host=host,
        source=source,
        from_t=NOW - 86400,
        to_t=NOW,
        group_by="app",
        rows=rows,
        total_gpu_hours=sum(r.gpu_hours for r in rows),
        total_energy_joules=sum(r.energy_joules for r in rows),
    )


@pytest.mark.parametrize(("window", "seconds"), [("1h", 3600), ("24h", 86400), ("7d", 604800)])
def test_window_ends_now_and_reaches_back_its_length(window: str, seconds: float) -> None:
    parsed = query({"window": window})
    assert (parsed.from_t, parsed.to_t, parsed.window) == (NOW - seconds, NOW, window)


def test_defaults_are_the_last_24_hours_by_app_without_a_price() -> None:
    assert query({}) == UsageQuery(NOW - 86400, NOW, "app", None, "24h")


def test_from_and_to_take_precedence_over_the_window() -> None:
    parsed = query({"window": "1h", "from": "2025-06-01T00:00:00Z", "to": "1748822400"})
    assert (parsed.from_t, parsed.to_t, parsed.window) == (1748736000.0, 1748822400.0, None)


def test_from_alone_runs_until_now() -> None:
    assert query({"from": "2025-06-15"}).to_t == NOW


def test_to_alone_starts_one_window_earlier() -> None:
    parsed = query({"window": "1h", "to": "2025-06-01T01:00:00"})
    assert (parsed.from_t, parsed.to_t) == (1748736000.0, 1748739600.0)


def test_time_without_a_zone_is_utc_and_offsets_are_honoured() -> None:
    assert parse_time("2025-06-01T02:00:00+02:00", "from") == parse_time("2025-06-01T00:00", "from")


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "-5", True])
def test_a_time_that_is_not_iso_or_epoch_names_the_parameter(value: Any) -> None:
    with pytest.raises(InputError, match=r"^from: .*2025-06-01T00:00:00Z or 1748736000"):
        parse_time(value, "from")


def test_a_time_in_epoch_milliseconds_is_out_of_range_naming_the_parameter() -> None:
    with pytest.raises(InputError, match=r"^to: '1748736000000' is out of range \(epoch"):
        parse_time("1748736000000", "to")


def test_from_not_before_to_is_a_parameter_error() -> None:
    with pytest.raises(InputError, match=r"^from: must be earlier than to"):
        query({"from": "1748822400", "to": "1748736000"})


def test_unknown_window_lists_the_accepted_ones() -> None:
    with pytest.raises(InputError, match=r"window: .* use one of 1h, 24h, 7d, 30d"):
        query({"window": "2w"})


def test_unknown_group_by_lists_the_accepted_ones() -> None:
    with pytest.raises(InputError, match=r"group_by: .* use one of app, team, model"):
        query({"group_by": "user"})


def test_price_parameter_overrides_the_settings_price() -> None:
    assert query({PRICE: 4}, default_price=2.5).price_per_gpu_hour == 4.0
    assert query({PRICE: ""}, default_price=2.5).price_per_gpu_hour == 2.5


@pytest.mark.parametrize("value", [-1, "free", "nan"])
def test_bad_price_names_the_parameter_and_the_range(value: Any) -> None:
    with pytest.raises(InputError, match=r"^price_per_gpu_hour: .* a number of 0 or more"):
        query({PRICE: value})


def test_steps_are_read_in_whole_minutes() -> None:
    assert query({"window": "7d", "bucket_s": "86400"}).bucket_s == 86400
    assert query({"bucket_s": 3600}).bucket_s == 3600
    assert query({}).bucket_s is None


@pytest.mark.parametrize("value", ["90", "0", "-60", "1h", "172800", True, "1e3"])
def test_a_step_of_no_whole_minutes_up_to_a_day_names_the_parameter(value: Any) -> None:
    with pytest.raises(InputError, match=r"^bucket_s: .* a whole number of minutes in seconds"):
        query({"bucket_s": value})


def test_a_step_that_cuts_the_window_into_too_many_steps_is_refused() -> None:
    with pytest.raises(InputError, match=r"^bucket_s: 60 cuts the window into more than 1000"):
        query({"window": "7d", "bucket_s": "60"})


def test_the_steps_answer_takes_the_query_price_over_the_collectors() -> None:
    named = report([row("chat", 1.0)]).model_copy(update={"price_per_gpu_hour": 3.0})
    assert usage_steps_json(query({PRICE: 2}), Gathered(named))["price_per_gpu_hour"] == 2.0
    assert usage_steps_json(query({}), Gathered(named))["price_per_gpu_hour"] == 3.0


def test_the_steps_answer_is_the_merged_report_with_the_missing_collectors() -> None:
    missing = (MissingCollector("http://b:9470", "b is down"),)
    answer = usage_steps_json(query({}), Gathered(report([row("chat", 1.0)]), missing))
    assert answer["rows"][0]["group"] == "chat"
    assert answer["missing_collectors"] == [{"url": "http://b:9470", "reason": "b is down"}]


def test_table_prices_each_group_and_the_total() -> None:
    table = usage_table(report([row("chat", 3.0), row("ocr", 1.0)]), query({PRICE: 2.5}))
    assert [(r.group, r.gpu_hours, r.share_percent, r.cost) for r in table.rows] == [
        ("chat", 3.0, 75.0, 7.5),
        ("ocr", 1.0, 25.0, 2.5),
    ]
    assert table.rows[0].memory_gib_hours == 6.0 and table.rows[0].energy_kwh == 1.5
    assert table.variables() == {"total_gpu_hours": 4.0, "total_cost": 10.0, "top_group": "chat"}


def test_without_a_price_cost_is_null_in_json_and_zero_in_the_variable() -> None:
    table = usage_table(report([row("chat", 3.0)]), query({}))
    assert table.as_json()["total_cost"] is None and table.as_json()["rows"][0]["cost"] is None
    assert table.variables()["total_cost"] == 0.0
    assert "no price per GPU-hour set" in table.text()


def test_idle_only_usage_has_no_top_group() -> None:
    table = usage_table(report([row("chat", 0.0, ["idle"])]), query({}))
    assert table.top_group == ""
    assert "idle" in table.text()


def test_line_names_range_total_cost_and_top_group_on_one_line() -> None:
    table = usage_table(
        report([row("chat", 3.0), row("ocr", 1.0)], source="replay"), query({PRICE: 2})
    )
    line = table.text()
    assert "\n" not in line
    assert line.startswith("gpu-node-1 (replayed data), last 24h by app: 4.00 GPU-hours")
    assert "cost 8.00 at 2 per GPU-hour" in line
    assert "top app: chat with 3.00 GPU-hours (75 %)" in line


def test_a_report_from_the_recording_rules_copy_says_so_in_its_line_and_json() -> None:
    through_rules = report([row("chat", 3.0)]).model_copy(
        update={"prometheus_url": "http://prom:9090", "usage_series": "recording_rules"}
    )
    table = usage_table(through_rules, query({}))
    assert table.text().startswith(
        "gpu-node-1 (via Prometheus) from the usage recording rules' 5-minute copy, last 24h"
    )
    assert table.as_json()["usage_series"] == "recording_rules"


def test_empty_report_says_nothing_was_recorded() -> None:
    table = usage_table(report([]), query({"window": "1h"}))
    assert table.text() == "gpu-node-1, last 1h: no GPU usage recorded."
    assert table.variables() == {"total_gpu_hours": 0.0, "total_cost": 0.0, "top_group": ""}


def test_reports_of_several_hosts_add_up_per_group() -> None:
    merged = merge_usage(
        [
            report([row("chat", 1.0), row("ocr", 2.0, ["memory_share"])], host="a"),
            report([row("chat", 3.0, ["idle"])], host="b", source="replay"),
        ]
    )
    assert [(r.group, r.gpu_hours) for r in merged.rows] == [("chat", 4.0), ("ocr", 2.0)]
    assert merged.rows[0].share_methods == ["idle", "sm_utilization"]
    assert (merged.host, merged.source, merged.total_gpu_hours) == ("a,b", "replay", 6.0)


def test_steps_of_several_hosts_add_up_per_step_and_group() -> None:
    day = 86400.0
    first, second = (NOW - day, NOW - day / 2), (NOW - day / 2, NOW)
    a = report([row("chat", 3.0)], host="a").model_copy(
        update={
            "buckets": [
                UsageBucket(from_t=first[0], to_t=first[1], rows=[row("chat", 1.0)]),
                UsageBucket(from_t=second[0], to_t=second[1], rows=[row("chat", 2.0)]),
            ]
        }
    )
    b = report([row("chat", 4.0)], host="b").model_copy(
        update={"buckets": [UsageBucket(from_t=second[0], to_t=second[1], rows=[row("ocr", 4.0)])]}
    )
    merged = merge_usage([a, b])
    assert [(x.from_t, x.to_t) for x in merged.buckets] == [first, second]
    assert [[(r.group, r.gpu_hours) for r in x.rows] for x in merged.buckets] == [
        [("chat", 1.0)],
        [("ocr", 4.0), ("chat", 2.0)],
    ]


def test_idle_held_time_of_several_hosts_adds_up_unless_no_host_knows_it() -> None:
    held = row("chat", 1.0).model_copy(update={"idle_held_gpu_seconds": 600.0})
    merged = merge_usage(
        [report([held], host="a"), report([row("chat", 1.0), row("ocr", 1.0)], host="b")]
    )
    assert {r.group: r.idle_held_gpu_seconds for r in merged.rows} == {"chat": 600.0, "ocr": None}


def test_gpus_of_several_hosts_are_listed_with_their_host() -> None:
    def watched(uuid: str) -> GpuUsage:
        return GpuUsage(
            gpu_uuid=uuid, observed_seconds=60.0, busy_gpu_seconds=6.0, idle_held_gpu_seconds=0.0
        )

    parts = [
        report([row("chat", 1.0)], host=host).model_copy(update={"gpus": [watched(uuid)]})
        for host, uuid in (("a", "GPU-a0"), ("b", "GPU-b0"))
    ]
    assert [(g.host, g.gpu_uuid) for g in merge_usage(parts).gpus] == [
        ("a", "GPU-a0"),
        ("b", "GPU-b0"),
    ]


@pytest.mark.parametrize(("prices", "merged_price"), [((2.5, 2.5), 2.5), ((2.5, 3.0), None)])
def test_a_price_is_kept_when_every_host_names_the_same(
    prices: tuple[float, float], merged_price: float | None
) -> None:
    parts = [
        report([row("chat", 1.0)], host=host).model_copy(update={"price_per_gpu_hour": price})
        for host, price in zip("ab", prices, strict=True)
    ]
    assert merge_usage(parts).price_per_gpu_hour == merged_price


def test_csv_has_a_header_named_after_the_grouping_and_one_line_per_group() -> None:
    table = usage_table(report([row("chat", 3.0), row("ocr", 1.0)]), query({PRICE: 1}))
    lines = list(csv.reader(io.StringIO(usage_csv(table))))
    assert lines[0] == [
        "app",
        "gpu_hours",
        "share_percent",
        "memory_gib_hours",
        "energy_kwh",
        "cost",
        "share_methods",
        "from_utc",
        "to_utc",
    ]
    assert lines[1][:7] == ["chat", "3.0", "75.0", "6.0", "1.5", "3.0", "sm_utilization"]
    assert lines[1][7:] == ["2025-06-14T15:06:40Z", "2025-06-15T15:06:40Z"]
    assert len(lines) == 3


def test_csv_leaves_cost_empty_without_a_price() -> None:
    table = usage_table(report([row("chat", 3.0)]), query({}))
    assert list(csv.reader(io.StringIO(usage_csv(table))))[1][5] == ""


def test_csv_keeps_a_spreadsheet_from_running_a_group_name_as_a_formula() -> None:
    table = usage_table(report([row("=HYPERLINK(1)", 1.0)]), query({}))
    assert list(csv.reader(io.StringIO(usage_csv(table))))[1][0] == "'=HYPERLINK(1)"


def test_line_keeps_small_amounts_readable() -> None:
    table = usage_table(report([row("chat", 0.0048)]), query({PRICE: 2.5}))
    assert "0.0048 GPU-hours" in table.text() and "cost 0.012 at 2.5" in table.text()
