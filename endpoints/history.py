from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.endpoint_auth import json_response, serve_with_collectors
from gpu_insight.fleet import CollectorFleet
from gpu_insight.history_view import fleet_history, parse_history_seconds
from gpu_insight.settings import CollectorSettings


class HistoryEndpoint(Endpoint):
    """GET /history?seconds=: every collector's recent per-GPU history, merged, as JSON."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def history(collectors: CollectorSettings) -> Response:
            seconds = parse_history_seconds(r.args.get("seconds"))
            clients = CollectorFleet.from_settings(collectors).clients
            return json_response(fleet_history(clients, seconds).model_dump(mode="json"))

        return serve_with_collectors(r, settings, history)
