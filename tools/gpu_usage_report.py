from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.answer import emit
from gpu_insight.answers.usage import answer_usage, gather_usage
from gpu_insight.sources.settings import collector_settings


class GpuUsageReportTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        settings = collector_settings(self.runtime.credentials)
        query, usage = gather_usage(tool_parameters, settings, price_name="price_per_gpu_hour")
        yield from emit(self, answer_usage(query, usage))
