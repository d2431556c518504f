"""The serving_advice answer: picks GPUs, engine and model sizing, runs the rules (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_insight.advise.advisor import Advice, advise
from gpu_insight.advise.sizing import model_fit
from gpu_insight.advise.suggestion import Focus, ModelFit, Situation
from gpu_insight.engines import DEFAULT_ENGINE
from gpu_insight.estimate.catalog import UnknownModelError, normalize
from gpu_insight.schemas import Engine, Snapshot
from gpu_insight.tool_params import GpuSelector, select_gpus


@dataclass(frozen=True)
class AdviceAnswer:
    snapshot: Snapshot
    advice: Advice
    engine: Engine | None
    model: str | None
    planned: bool
    notes: list[str]

    def as_json(self) -> dict:
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
        }

    def as_variables(self) -> dict[str, str | int]:
        return {
            "top_suggestion": self.advice.top_line(),
            "suggestion_count": len(self.advice.suggestions),
            "critical_count": self.advice.critical_count,
        }


def serving_advice(
    snapshot: Snapshot,
    *,
    selector: GpuSelector,
    host: str | None = None,
    model: str | None = None,
    engine: Engine | None = None,
    focus: Focus | None = None,
) -> AdviceAnswer:
    gpus = select_gpus(snapshot, selector, host)
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
    return AdviceAnswer(snapshot, advise(situation, focus), chosen, situation.model, planned, notes)


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
