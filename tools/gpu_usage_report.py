import time
from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.settings import collector_settings
from gpu_insight.usage_params import parse_usage_query
from gpu_insight.usage_report import build_usage_table, fetch_usage, usage_line


class GpuUsageReportTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        settings = collector_settings(self.runtime.credentials)
        query = parse_usage_query(
            tool_parameters,
            now=time.time(),
            default_price=settings.price_per_gpu_hour,
            price_name="price_per_gpu_hour",
        )
        table = build_usage_table(fetch_usage(settings, query), query)
        yield self.create_json_message(table.as_json())
        yield self.create_text_message(usage_line(table))
        for name, value in table.as_variables().items():
            yield self.create_variable_message(name, value)
