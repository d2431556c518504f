"""Serving advice: ranked, evidence-backed suggestions from GPU state, engine metrics and sizing."""

from gpu_insight.advise.advisor import Advice, advise
from gpu_insight.advise.suggestion import FOCUSES, Focus, ModelFit, Situation, Suggestion

__all__ = ["FOCUSES", "Advice", "Focus", "ModelFit", "Situation", "Suggestion", "advise"]
