from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from gpu_insight.answers.advice import (
    advice_prices,
    answer_advice,
    books_window,
    parse_advice_query,
    wants_books,
)
from gpu_insight.answers.answer import emit
from gpu_insight.sources.fleet import CollectorFleet
from gpu_insight.sources.settings import collector_settings


class ServingAdviceTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and collector errors propagate: the node fails with their text.
        query = parse_advice_query(tool_parameters)
        settings = collector_settings(self.runtime.credentials)
        fleet = CollectorFleet.from_settings(settings)
        snapshot = fleet.snapshot()
        books = fleet.usage(*books_window(snapshot.value), "gpu") if wants_books(query) else None
        prices = advice_prices(settings, books.value if books else None)
        yield from emit(self, answer_advice(query, snapshot, books, prices))
