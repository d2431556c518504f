import time
from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.endpoint_auth import serve_with_collectors
from gpu_insight.settings import CollectorSettings
from gpu_insight.usage_params import parse_usage_query
from gpu_insight.usage_report import build_usage_table, fetch_usage, usage_csv


class UsageCsvEndpoint(Endpoint):
    """GET /usage.csv?window=&from=&to=&group_by=&price=: the usage report for spreadsheets."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def usage(collectors: CollectorSettings) -> Response:
            query = parse_usage_query(
                dict(r.args), now=time.time(), default_price=None, price_name="price"
            )
            table = build_usage_table(fetch_usage(collectors, query), query)
            return Response(
                usage_csv(table),
                status=200,
                content_type="text/csv; charset=utf-8",
                headers={
                    "Cache-Control": "no-store",
                    "Content-Disposition": f'attachment; filename="gpu-usage-{query.group_by}.csv"',
                },
            )

        return serve_with_collectors(r, settings, usage)
