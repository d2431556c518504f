"""One sizing question: a request on a resolved model, its engine settings at each TP size,
and where it starts on a set of GPUs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gpu_insight.estimate.placement import best_placement
from gpu_insight.estimate.plans import Settings
from gpu_insight.estimate.request import VramRequest
from gpu_insight.estimate.resolve import ResolvedModel, settings_for
from gpu_insight.estimate.result import Placement
from gpu_insight.schemas import Gpu


@dataclass(frozen=True)
class Sizing:
    request: VramRequest
    model: ResolvedModel
    _settings: dict[int, Settings] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def fixed_tp(self) -> int | None:
        tp = self.request.tensor_parallel
        return None if tp == "auto" else int(tp)

    def settings(self, tensor_parallel: int) -> Settings:
        if tensor_parallel not in self._settings:
            self._settings[tensor_parallel] = settings_for(
                self.request, self.model.spec, tensor_parallel, self.model.checkpoint
            )
        return self._settings[tensor_parallel]

    @cached_property
    def base(self) -> Settings:
        """The settings at the requested TP size (1 when automatic)."""
        return self.settings(self.fixed_tp or 1)

    def place(self, gpus: list[Gpu]) -> Placement | None:
        return best_placement(
            self.settings, self.request.engine, self.fixed_tp, self.model.spec, gpus
        )

    def changed(self, **update: Any) -> Sizing:
        """The same question with some request parameters changed."""
        return Sizing(self.request.model_copy(update=update), self.model)
