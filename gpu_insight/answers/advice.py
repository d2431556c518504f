"""What `serving_advice` answers: picks GPUs, engine and model sizing, runs the rules.

With focus cost it also reads the usage books of the last 7 days (`books_window`), priced by
the settings (a price per GPU-hour, and one per GPU type), for the cost rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpu_insight.advise import FOCUSES
from gpu_insight.advise.advisor import Advice, advise
from gpu_insight.advise.costs import Prices
from gpu_insight.advise.sizing import model_fit
from gpu_insight.advise.suggestion import Focus, ModelFit, Situation
from gpu_insight.answers.answer import Variable, missing_note
from gpu_insight.answers.params import (
    GpuSelector,
    parse_gpu_selector,
    parse_optional_choice,
    parse_optional_text,
    select_gpus,
)
from gpu_insight.engines import DEFAULT_ENGINE, ENGINES
from gpu_insight.errors import UnknownModelError
from gpu_insight.estimate.catalog import normalize
from gpu_insight.schemas import Engine, Snapshot, UsageReport
from gpu_insight.sources.fleet import Gathered, MissingCollector, missing_json
from gpu_insight.sources.settings import PRICE_SETTING, parse_gpu_prices, parse_price_per_gpu_hour
from gpu_insight.sources.source import GpuSource

BOOKS_WINDOW_S = 7 * 86400.0  # what the cost rules look back over


@dataclass(frozen=True)
class AdviceQuery:
    selector: GpuSelector
    host: str | None
    model: str | None
    engine: Engine | None
    focus: Focus | None


def parse_advice_query(params: Mapping[str, Any]) -> AdviceQuery:
    return AdviceQuery(
        selector=parse_gpu_selector(params.get("gpu")),
        host=parse_optional_text(params.get("host"), "host"),
        model=parse_optional_text(params.get("model"), "model"),
        engine=parse_optional_choice(params.get("engine"), "engine", ENGINES),
        focus=parse_optional_choice(params.get("focus"), "focus", FOCUSES),
    )


def wants_books(query: AdviceQuery) -> bool:
    """Whether the answer reads the usage books: the cost rules run with focus cost."""
    return query.focus == "cost"


def books_window(snapshot: Snapshot) -> tuple[float, float]:
    """(from, to) of the books the cost rules read: the 7 days up to the snapshot."""
    return snapshot.collected_at - BOOKS_WINDOW_S, snapshot.collected_at


def advice_prices(values: Mapping[str, Any], usage: UsageReport | None) -> Prices:
    """The prices in the settings (as Dify passes them); without a price per GPU-hour, the one
    the collectors name."""
    default = parse_price_per_gpu_hour(values.get(PRICE_SETTING))
    if default is None and usage is not None:
        default = usage.price_per_gpu_hour
    return Prices(per_gpu_hour=default, by_gpu_type=parse_gpu_prices(values.get("gpu_prices")))


@dataclass(frozen=True)
class AdviceAnswer:
    snapshot: Snapshot
    advice: Advice
    engine: Engine | None
    model: str | None
    planned: bool
    notes: list[str]
    missing: tuple[MissingCollector, ...] = ()

    def text(self) -> str:
        return self.advice.text() + missing_note(self.missing)

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.snapshot.host,
            "source": self.snapshot.source,
            "prometheus_url": self.snapshot.prometheus_url,
            "collected_at": self.snapshot.collected_at,
            "engine": self.engine,
            "model": self.model,
            "planned": self.planned,
            "focus": self.advice.focus,
            "suggestion_count": len(self.advice.suggestions),
            "critical_count": self.advice.critical_count,
            "top_saving_per_month": self.advice.top_saving_per_month,
            "suggestions": [s.as_json() for s in self.advice.suggestions],
            "notes": self.notes,
            "missing_collectors": missing_json(self.missing),
        }

    def variables(self) -> dict[str, Variable]:
        return {
            "top_suggestion": self.advice.top_line(),
            "suggestion_count": len(self.advice.suggestions),
            "critical_count": self.advice.critical_count,
            "top_saving_per_month": self.advice.top_saving_per_month,
        }


def gather_advice(query: AdviceQuery, source: GpuSource, values: Mapping[str, Any]) -> AdviceAnswer:
    """What serving_advice answers over a source: its snapshot and, with focus cost, its 7 days
    of books, priced by `values` (tool credentials or endpoint settings)."""
    snapshot = source.snapshot()
    books = source.usage(*books_window(snapshot.value), "gpu") if wants_books(query) else None
    return answer_advice(
        query, snapshot, books, advice_prices(values, books.value if books else None)
    )


def answer_advice(
    query: AdviceQuery,
    gathered: Gathered[Snapshot],
    books: Gathered[UsageReport] | None = None,
    prices: Prices | None = None,
) -> AdviceAnswer:
    """`books` (with focus cost) feed the cost rules, priced by `prices`."""
    snapshot, model, engine = gathered.value, query.model, query.engine
    gpus = select_gpus(snapshot, query.selector, query.host)
    notes: list[str] = []
    fit: ModelFit | None = None
    if model is not None:
        try:
            fit = model_fit(model)
        except UnknownModelError as exc:
            notes.append(f"memory-fit rules skipped: {exc}")
    running = _running_engine(snapshot, model) if model is not None else None
    planned = model is not None and running is None
    chosen = engine or running or (DEFAULT_ENGINE if planned else None)
    if snapshot.source == "replay":
        notes.append("GPU state comes from a recorded trace (replay), not live hardware")
    usage = books.value if books is not None else None
    prices = prices or Prices()
    if usage is not None and prices.per_gpu_hour is None and not prices.by_gpu_type:
        notes.append("cost rules found no price: set price_per_gpu_hour or gpu_prices")
    elif usage is None and query.focus is None:
        notes.append("cost findings from the usage books come with focus cost")
    situation = Situation(
        snapshot=snapshot,
        gpus=gpus,
        engine=chosen,
        only_engine=None if planned else engine,
        model=fit.model if fit is not None else model,
        fit=fit,
        planned=planned,
        usage=usage,
        prices=prices,
    )
    advice = advise(situation, query.focus)
    missing = gathered.missing + (books.missing if books is not None else ())
    return AdviceAnswer(snapshot, advice, chosen, situation.model, planned, notes, missing)


def _running_engine(snapshot: Snapshot, model: str) -> Engine | None:
    """The engine already serving this model, if a GPU process or engine shows it."""
    wanted = normalize(model)
    for process in snapshot.processes:
        found = process.attribution.model
        if found and normalize(found) == wanted:
            return process.attribution.engine
    for metrics in snapshot.engines:
        if metrics.model and normalize(metrics.model) == wanted:
            return metrics.engine
    return None
