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
from gpu_insight.sources.source import source_from


class ServingAdviceTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage]:
        # Parameter, settings and source errors propagate: the node fails with their text.
        query = parse_advice_query(tool_parameters)
        source = source_from(self.runtime.credentials)
        snapshot = source.snapshot()
        books = source.usage(*books_window(snapshot.value), "gpu") if wants_books(query) else None
        prices = advice_prices(self.runtime.credentials, books.value if books else None)
        yield from emit(self, answer_advice(query, snapshot, books, prices))
