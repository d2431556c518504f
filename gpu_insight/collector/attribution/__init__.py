"""Process attribution: host PID → process → container → model instance → app/team."""

from gpu_insight.collector.attribution.attributor import (
    PID_NOT_VISIBLE,
    Attributor,
    ProcessIdentity,
)

__all__ = ["PID_NOT_VISIBLE", "Attributor", "ProcessIdentity"]
