from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.web import HTML, page_html


class DashboardEndpoint(Endpoint):
    """GET /dashboard: the dashboard page. Public: it carries no data; the page sends the key
    from its URL fragment (#key=) on its own data requests."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        return Response(
            page_html(),
            status=200,
            content_type=HTML,
            headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
        )
