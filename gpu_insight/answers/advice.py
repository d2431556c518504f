"""What `serving_advice` answers: picks GPUs, engine and model sizing, runs the rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpu_insight.advise import FOCUSES
from gpu_insight.advise.advisor import Advice, advise
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
from gpu_insight.schemas import Engine, Snapshot
from gpu_insight.sources.fleet import Gathered, MissingCollector, missing_json


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
            "collected_at": self.snapshot.collected_at,
            "engine": self.engine,
            "model": self.model,
            "planned": self.planned,
            "focus": self.advice.focus,
            "suggestion_count": len(self.advice.suggestions),
            "critical_count": self.advice.critical_count,
            "suggestions": [s.as_json() for s in self.advice.suggestions],
            "notes": self.notes,
            "missing_collectors": missing_json(self.missing),
        }

    def variables(self) -> dict[str, Variable]:
        return {
            "top_suggestion": self.advice.top_line(),
            "suggestion_count": len(self.advice.suggestions),
            "critical_count": self.advice.critical_count,
        }


def answer_advice(query: AdviceQuery, gathered: Gathered[Snapshot]) -> AdviceAnswer:
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
    situation = Situation(
        snapshot=snapshot,
        gpus=gpus,
        engine=chosen,
        only_engine=None if planned else engine,
        model=fit.model if fit is not None else model,
        fit=fit,
        planned=planned,
    )
    advice = advise(situation, query.focus)
    return AdviceAnswer(snapshot, advice, chosen, situation.model, planned, notes, gathered.missing)


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
