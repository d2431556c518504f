from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.answer import emit
from gpu_insight.answers.usage import answer_usage
from gpu_insight.answers.usage_query import parse_usage_query
from gpu_insight.sources.fleet import CollectorFleet
from gpu_insight.sources.settings import collector_settings


class GpuUsageReportTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        settings = collector_settings(self.runtime.credentials)
        query = parse_usage_query(
            tool_parameters,
            default_price=settings.price_per_gpu_hour,
            price_name="price_per_gpu_hour",
        )
        usage = CollectorFleet.from_settings(settings).usage(
            query.from_t, query.to_t, query.group_by
        )
        yield from emit(self, answer_usage(query, usage))
