from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.gateway import json_error
from gpu_insight.web import static_asset


class DashboardAssetEndpoint(Endpoint):
    """GET /static/<name>: the dashboard's scripts, styles and icon, from a fixed list of names.
    Public, like the page. The path mirrors the collector's, so the page's relative URLs work
    under both."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        asset = static_asset(str(values.get("name", "")))
        if asset is None:
            return json_error(404, "No dashboard asset has that name.", "not_found")
        body, content_type = asset
        return Response(
            body,
            status=200,
            content_type=content_type,
            headers={"Cache-Control": "public, max-age=3600"},
        )
