"""Runs the rules, removes duplicates and ranks: severity first, then focus, then the saving per
month, then the expected gain."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_insight.advise.rules import RULES, Rule
from gpu_insight.advise.suggestion import SEVERITY_RANK, Focus, Situation, Suggestion

_TOP = 3


@dataclass(frozen=True)
class Advice:
    suggestions: list[Suggestion]
    focus: Focus | None

    @property
    def critical_count(self) -> int:
        return sum(1 for s in self.suggestions if s.severity == "critical")

    @property
    def top_saving_per_month(self) -> float:
        """The largest saving one suggestion finds, per month (savings of one GPU are
        alternatives, so they are not added up); 0 when none has a price."""
        return max((s.saving_per_month or 0.0 for s in self.suggestions), default=0.0)

    def top_line(self) -> str:
        if not self.suggestions:
            return ""
        first = self.suggestions[0]
        return f"{first.title}: {first.change}"

    def text(self) -> str:
        if not self.suggestions:
            return (
                "No suggestions: nothing in the current GPU state or engine metrics needs a change."
            )
        lines = [
            f"{i}. [{s.severity}] {s.title}. Change: {s.change}"
            for i, s in enumerate(self.suggestions[:_TOP], start=1)
        ]
        more = len(self.suggestions) - _TOP
        if more > 0:
            lines.append(f"(+{more} more in the JSON)")
        return "\n".join(lines)


def advise(
    situation: Situation, focus: Focus | None = None, rules: tuple[Rule, ...] = RULES
) -> Advice:
    found: dict[tuple[str, str], Suggestion] = {}
    for rule in rules:
        for suggestion in rule(situation):
            key = (suggestion.id, suggestion.scope)
            kept = found.get(key)
            if kept is None or _rank(suggestion, focus) > _rank(kept, focus):
                found[key] = suggestion
    ranked = sorted(found.values(), key=lambda s: _rank(s, focus), reverse=True)
    if focus is not None:
        # other focuses stay out unless critical: a failing GPU matters whatever was asked
        ranked = [s for s in ranked if focus in s.focus or s.severity == "critical"]
    return Advice(ranked, focus)


def _rank(suggestion: Suggestion, focus: Focus | None) -> tuple[int, int, float, float]:
    on_focus = 1 if focus is None or focus in suggestion.focus else 0
    saving = suggestion.saving_per_month or 0.0
    return SEVERITY_RANK[suggestion.severity], on_focus, saving, suggestion.gain
