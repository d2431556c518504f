"""Re-expose one collector's Prometheus text through a Dify endpoint.

Exposition texts of several collectors cannot simply be concatenated (metric families would
repeat), so with several collectors configured the caller picks one with `?collector=<n>`
(0-based, in settings order) and Prometheus scrapes one target per collector.
"""

from __future__ import annotations

from gpu_insight.client import CollectorClient, MetricsText
from gpu_insight.settings import CollectorSettings
from gpu_insight.tool_params import ParameterError

COLLECTOR_QUERY = "collector"


def pick_collector_url(settings: CollectorSettings, position: str | None) -> str:
    if position is None or not position.strip():
        return settings.urls[0]
    last = len(settings.urls) - 1
    text = position.strip()
    if not text.isdecimal() or int(text) > last:  # isdigit() passes "²", int() does not
        raise ParameterError(
            f"{COLLECTOR_QUERY}: {text[:20]!r} is not accepted; use a position from 0 to {last} "
            "in the endpoint's collector_url list."
        )
    return settings.urls[int(text)]


def scrape_collector(settings: CollectorSettings, position: str | None) -> MetricsText:
    return CollectorClient(pick_collector_url(settings, position), settings.token).metrics_text()
