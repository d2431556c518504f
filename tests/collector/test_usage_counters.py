"""The usage books as Prometheus counters: the same shares, added up since start, in base units."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.core import CounterMetricFamily

from gpu_insight.collector.accounting import UsageLedger
from gpu_insight.collector.config import AccountingConfig
from gpu_insight.collector.usage_metrics import usage_metrics
from gpu_insight.collector.usage_split import Share, UsageKey
from gpu_insight.collector.usage_totals import UsageTotals
from tests.collector.synthetic import FakeClock, shared_gpu_snapshot

T0 = 1_700_000_040.0
MIB = 1024 * 1024


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[UsageLedger]:
    books = UsageLedger(AccountingConfig(db_path=str(tmp_path / "usage.sqlite3")), FakeClock(T0))
    yield books
    books.close()


def counter_values(families: Iterator[CounterMetricFamily]) -> dict[tuple[str, str], float]:
    """(counter name, app) → value, the `_total` sample of each series."""
    return {
        (sample.name, sample.labels["app"]): sample.value
        for family in families
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_totals_since_start_equal_the_books_report_since_start(ledger: UsageLedger) -> None:
    for second in range(150):  # across two minute boundaries
        ledger.add(shared_gpu_snapshot(T0 + 30 + second))
    report = ledger.report(from_t=T0, to_t=T0 + 300, group_by="app")
    by_app: dict[str, list[float]] = {}
    for total in ledger.totals():
        amounts = by_app.setdefault(total.key.app or "unattributed", [0.0, 0.0, 0.0])
        amounts[0] += total.gpu_seconds
        amounts[1] += total.memory_mib_seconds
        amounts[2] += total.energy_joules
    assert set(by_app) == {row.group for row in report.rows}
    for row in report.rows:
        gpu_s, mib_s, joules = by_app[row.group]
        assert gpu_s == pytest.approx(row.gpu_seconds)
        assert mib_s == pytest.approx(row.memory_mib_seconds)
        assert joules == pytest.approx(row.energy_joules)


def test_counters_are_in_base_units_per_gpu_app_team_container_and_model(
    ledger: UsageLedger,
) -> None:
    for second in range(11):
        ledger.add(shared_gpu_snapshot(T0 + second))
    [family_s, family_mem, family_j] = list(usage_metrics(ledger.totals()))
    assert [f.name for f in (family_s, family_mem, family_j)] == [
        "gpu_app_gpu_seconds",
        "gpu_app_memory_byte_seconds",
        "gpu_app_energy_joules",
    ]
    assert all(f.type == "counter" for f in (family_s, family_mem, family_j))
    labels = {tuple(sorted(s.labels)) for f in (family_s, family_mem, family_j) for s in f.samples}
    assert labels == {("app", "app_container", "model", "team", "uuid")}
    memory = {s.labels["app"]: s.value for s in family_mem.samples if s.name.endswith("_total")}
    mib_s = {t.key.app or "unattributed": t.memory_mib_seconds for t in ledger.totals()}
    assert memory == {app: pytest.approx(v * MIB) for app, v in mib_s.items()}


def test_a_project_scope_sees_only_its_apps_counters(ledger: UsageLedger) -> None:
    for second in range(5):
        ledger.add(shared_gpu_snapshot(T0 + second))
    apps = {app for (_, app) in counter_values(usage_metrics(ledger.totals()))}
    assert len(apps) > 1
    kept = sorted(apps)[0]
    scoped = counter_values(usage_metrics(ledger.totals(), frozenset({kept})))
    assert {app for (_, app) in scoped} == {kept}


def share(app: str, gpu_seconds: float) -> Share:
    return Share(UsageKey("GPU-x", app=app), "sm_utilization", gpu_seconds, 0.0, 0.0)


def test_a_key_idle_past_the_expiry_drops_out_and_comes_back_from_zero() -> None:
    totals = UsageTotals(idle_expiry_s=60)
    totals.add([share("a", 5.0), share("b", 1.0)], at=T0)
    totals.add([share("a", 5.0), share("b", 0.0)], at=T0 + 61)
    assert {t.key.app: t.gpu_seconds for t in totals.totals()} == {"a": 10.0}
    totals.add([share("b", 2.0)], at=T0 + 62)
    assert {t.key.app: t.gpu_seconds for t in totals.totals()} == {"a": 10.0, "b": 2.0}
