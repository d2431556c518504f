from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.answer import emit
from gpu_insight.answers.usage import answer_usage, gather_usage
from gpu_insight.sources.settings import PRICE_SETTING, parse_price_per_gpu_hour
from gpu_insight.sources.source import source_from


class GpuUsageReportTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and source errors propagate: the node fails with their text.
        credentials = self.runtime.credentials
        price = parse_price_per_gpu_hour(credentials.get(PRICE_SETTING))
        query, usage = gather_usage(
            tool_parameters, source_from(credentials), price, price_name=PRICE_SETTING
        )
        yield from emit(self, answer_usage(query, usage))
