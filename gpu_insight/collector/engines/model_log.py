"""Loads and unloads of the models one multi-model server (Ollama) holds, over the last hour.

Each `/api/ps` answer is compared with the previous one: a model that appears was loaded, one
that is gone was unloaded. What the first answer lists was loaded before the collector looked,
so it counts as no load. A model that comes and goes every few minutes is churning: each time
it comes back its weights are read from disk again.
"""

from __future__ import annotations

from collections import deque

from gpu_insight.schemas import LoadedModel, ModelEvent

KEEP_S = 3600.0


class ModelLog:
    def __init__(self, keep_s: float = KEEP_S) -> None:
        self._keep_s = keep_s
        self._loaded_at: dict[str, float | None] | None = None  # None until the first answer
        self._events: deque[ModelEvent] = deque()

    def observe(self, at: float, models: tuple[LoadedModel, ...]) -> tuple[LoadedModel, ...]:
        """Records what changed since the last answer; returns the models with their history."""
        names = {m.name for m in models}
        previous = self._loaded_at
        if previous is None:
            self._loaded_at = dict.fromkeys(names)
        else:
            for gone in sorted(set(previous) - names):
                self._events.append(ModelEvent(t=at, model=gone, event="unload"))
                del previous[gone]
            for new in sorted(names - set(previous)):
                self._events.append(ModelEvent(t=at, model=new, event="load"))
                previous[new] = at
        while self._events and self._events[0].t < at - self._keep_s:
            self._events.popleft()
        return tuple(self._with_history(m) for m in models)

    def events(self) -> list[ModelEvent]:
        return list(self._events)

    def _with_history(self, model: LoadedModel) -> LoadedModel:
        assert self._loaded_at is not None
        mine = [e.event for e in self._events if e.model == model.name]
        return model.model_copy(
            update={
                "loaded_at": self._loaded_at.get(model.name),
                "loads_last_hour": mine.count("load"),
                "unloads_last_hour": mine.count("unload"),
            }
        )
