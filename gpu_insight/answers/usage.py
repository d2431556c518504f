"""A GPU usage report over every configured collector: rows per group, cost, a line, CSV.

GPU-hours are busy time (utilization × time, divided between the processes that ran); memory is
reported in GiB-hours of allocation and energy in kWh. Cost is GPU-hours × the price per
GPU-hour; without a price there is no cost (`null` in JSON, empty in CSV, 0 in the variable).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gpu_insight.answers.answer import Variable, missing_note, where
from gpu_insight.answers.usage_query import UsageQuery, parse_usage_query
from gpu_insight.schemas import Source, UsageReport, UsageSeries
from gpu_insight.sources.fleet import Gathered, MissingCollector, missing_json
from gpu_insight.sources.merge import SECONDS_PER_HOUR
from gpu_insight.sources.source import GpuSource

MIB_PER_GIB = 1024.0
JOULES_PER_KWH = 3.6e6
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "gpu_hours",
    "share_percent",
    "memory_gib_hours",
    "energy_kwh",
    "cost",
    "share_methods",
    "from_utc",
    "to_utc",
)


@dataclass(frozen=True)
class UsageTableRow:
    group: str
    gpu_hours: float
    share_percent: float  # of all GPU-hours in the report
    memory_gib_hours: float
    energy_kwh: float
    cost: float | None
    share_methods: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "gpu_hours": self.gpu_hours,
            "share_percent": self.share_percent,
            "memory_gib_hours": self.memory_gib_hours,
            "energy_kwh": self.energy_kwh,
            "cost": self.cost,
            "share_methods": self.share_methods,
        }


@dataclass(frozen=True)
class UsageAnswer:
    host: str
    source: Source
    prometheus_url: str | None  # read through this Prometheus; None: from the collectors
    usage_series: UsageSeries | None  # through Prometheus: what the sums read
    query: UsageQuery
    from_t: float  # the span the collectors' minute books actually cover
    to_t: float
    rows: list[UsageTableRow]
    total_gpu_hours: float
    total_energy_kwh: float
    total_cost: float | None
    missing: tuple[MissingCollector, ...] = ()

    @property
    def top_group(self) -> str:
        """The group with the most GPU-hours; empty when nothing was used."""
        top = self.rows[0] if self.rows else None
        return top.group if top is not None and top.gpu_hours > 0 else ""

    def variables(self) -> dict[str, Variable]:
        return {
            "total_gpu_hours": self.total_gpu_hours,
            "total_cost": self.total_cost or 0.0,
            "top_group": self.top_group,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "source": self.source,
            "prometheus_url": self.prometheus_url,
            "usage_series": self.usage_series,
            "from": _iso(self.from_t),
            "to": _iso(self.to_t),
            "window": self.query.window,
            "group_by": self.query.group_by,
            "price_per_gpu_hour": self.query.price_per_gpu_hour,
            "total_gpu_hours": self.total_gpu_hours,
            "total_energy_kwh": self.total_energy_kwh,
            "total_cost": self.total_cost,
            "top_group": self.top_group,
            "rows": [row.as_json() for row in self.rows],
            "missing_collectors": missing_json(self.missing),
        }

    def text(self) -> str:
        return _usage_line(self) + missing_note(self.missing)


def gather_usage(
    params: Mapping[str, Any], source: GpuSource, default_price: float | None, price_name: str
) -> tuple[UsageQuery, Gathered[UsageReport]]:
    """The query in `params` (priced at `default_price` unless `price_name` names a price),
    and the source's report for it, in steps when the query asks."""
    query = parse_usage_query(params, default_price=default_price, price_name=price_name)
    return query, source.usage(query.from_t, query.to_t, query.group_by, query.bucket_s)


def answer_usage(query: UsageQuery, gathered: Gathered[UsageReport]) -> UsageAnswer:
    report = gathered.value
    price = query.price_per_gpu_hour
    total_hours = sum(row.gpu_hours for row in report.rows)
    rows = [
        UsageTableRow(
            group=row.group,
            gpu_hours=_round(row.gpu_hours),
            share_percent=_round(100.0 * row.gpu_hours / total_hours if total_hours else 0.0, 1),
            memory_gib_hours=_round(row.memory_mib_seconds / MIB_PER_GIB / SECONDS_PER_HOUR),
            energy_kwh=_round(row.energy_joules / JOULES_PER_KWH),
            cost=None if price is None else _round(row.gpu_hours * price),
            share_methods=list(row.share_methods),
        )
        for row in report.rows
    ]
    return UsageAnswer(
        missing=gathered.missing,
        host=report.host,
        source=report.source,
        prometheus_url=report.prometheus_url,
        usage_series=report.usage_series,
        query=query,
        from_t=report.from_t,
        to_t=report.to_t,
        rows=rows,
        total_gpu_hours=_round(total_hours),
        total_energy_kwh=_round(sum(r.energy_joules for r in report.rows) / JOULES_PER_KWH),
        total_cost=None if price is None else _round(total_hours * price),
    )


def usage_steps_json(query: UsageQuery, gathered: Gathered[UsageReport]) -> dict[str, Any]:
    """The merged report in steps as the collectors gave it (`GET /usage`, the dashboard's
    cost panel), with the price that applies: the query's or the settings', else the one the
    collectors name."""
    report = gathered.value
    price = query.price_per_gpu_hour
    return {
        **report.model_dump(mode="json"),
        "price_per_gpu_hour": report.price_per_gpu_hour if price is None else price,
        "missing_collectors": missing_json(gathered.missing),
    }


def _usage_line(table: UsageAnswer) -> str:
    """One sentence for agents: range, total, cost and the top group."""
    origin = where(table.host, table.source, table.prometheus_url)
    if table.usage_series == "recording_rules":
        origin += " from the usage recording rules' 5-minute copy"
    span = (
        f"last {table.query.window}"
        if table.query.window is not None
        else f"{_iso(table.query.from_t)} to {_iso(table.query.to_t)}"
    )
    if not table.rows:
        return f"{origin}, {span}: no GPU usage recorded."
    if table.total_cost is None:
        cost = "no price per GPU-hour set, so no cost"
    else:
        price = table.query.price_per_gpu_hour
        cost = f"cost {_amount(table.total_cost)} at {price:g} per GPU-hour"
    top = table.rows[0]
    leader = (
        f"top {table.query.group_by}: {top.group} with {_amount(top.gpu_hours)} GPU-hours "
        f"({top.share_percent:g} %)"
        if table.top_group
        else "the GPUs were idle (0 busy GPU-hours)"
    )
    return (
        f"{origin}, {span} by {table.query.group_by}: {_amount(table.total_gpu_hours)} GPU-hours, "
        f"{_amount(table.total_energy_kwh)} kWh, {cost}; {leader}; {len(table.rows)} group(s)."
    )


def usage_csv(table: UsageAnswer) -> str:
    """Comma-separated with a header row; the first column is named after `group_by`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([table.query.group_by, *CSV_COLUMNS])
    start, end = _iso(table.from_t), _iso(table.to_t)
    for row in table.rows:
        writer.writerow(
            [
                _cell(row.group),
                row.gpu_hours,
                row.share_percent,
                row.memory_gib_hours,
                row.energy_kwh,
                "" if row.cost is None else row.cost,
                ";".join(row.share_methods),
                start,
                end,
            ]
        )
    return out.getvalue()


def _amount(value: float) -> str:
    """Two decimals from 1 up; three significant digits below, so small usage is not 0.00."""
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def _cell(text: str) -> str:
    """Keeps a spreadsheet from running a group name (an app label) as a formula."""
    return f"'{text}" if text[:1] in FORMULA_PREFIXES else text


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _round(value: float, digits: int = 4) -> float:
    return round(value, digits)
