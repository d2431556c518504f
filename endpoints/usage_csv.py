from collections.abc import Mapping
from typing import Any

from dify_plugin import Endpoint
from werkzeug import Request, Response

from gpu_insight.answers.usage import answer_usage, gather_usage, usage_csv
from gpu_insight.gateway import serve_with_source
from gpu_insight.sources.settings import PRICE_SETTING, parse_price_per_gpu_hour
from gpu_insight.sources.source import GpuSource


class UsageCsvEndpoint(Endpoint):
    """GET /usage.csv?window=&from=&to=&group_by=&price=: the usage report for spreadsheets."""

    def _invoke(
        self, r: Request, values: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Response:
        def usage(source: GpuSource) -> Response:
            price = parse_price_per_gpu_hour(settings.get(PRICE_SETTING))
            query, report = gather_usage(dict(r.args), source, price, price_name="price")
            return Response(
                usage_csv(answer_usage(query, report)),
                status=200,
                content_type="text/csv; charset=utf-8",
                headers={
                    "Cache-Control": "no-store",
                    "Content-Disposition": f'attachment; filename="gpu-usage-{query.group_by}.csv"',
                },
            )

        return serve_with_source(r, settings, usage)
