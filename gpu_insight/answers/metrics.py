"""Re-expose one collector's Prometheus text through a Dify endpoint.

Exposition texts of several collectors cannot simply be concatenated (metric families would
repeat), so with several collectors configured the caller picks one with `?collector=<n>`
(0-based, in settings order) and Prometheus scrapes one target per collector.
"""

from __future__ import annotations

from gpu_insight.errors import InputError, quoted
from gpu_insight.sources.client import CollectorClient, MetricsText
from gpu_insight.sources.settings import CollectorSettings

COLLECTOR_QUERY = "collector"


def pick_collector_url(settings: CollectorSettings, position: str | None) -> str:
    if position is None or not position.strip():
        return settings.urls[0]
    last = len(settings.urls) - 1
    text = position.strip()
    if not text.isdecimal() or len(text) > 4 or int(text) > last:  # isdigit() passes "²"
        raise InputError(
            f"{COLLECTOR_QUERY}: {quoted(text, 24)} is not accepted; use a position from 0 to "
            f"{last} in the endpoint's collector_url list.",
            COLLECTOR_QUERY,
        )
    return settings.urls[int(text)]


def scrape_collector(settings: CollectorSettings, position: str | None) -> MetricsText:
    return CollectorClient(pick_collector_url(settings, position), settings.token).metrics_text()
