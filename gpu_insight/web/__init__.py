"""The dashboard: one static page and its assets, served by the collector and by the Dify endpoint.

The page carries no data and no secret, so both servers hand it out without a key; it reads
its secret from the URL fragment and fetches its data with it. Assets are served from a fixed
list of names, so a request can never reach another file.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
SVG = "image/svg+xml"
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"

# The page's languages: one message table each, messages/<language>.json (i18n.js lists the
# same, in the order its language switch shows them).
LANGUAGES = tuple(
    sorted(
        node.name.removesuffix(".json")
        for node in (files(__name__) / "messages").iterdir()
        if node.name.endswith(".json")
    )
)
# The page's ES modules, beside index.html. Each, and the bundled ECharts, starts with V8's
# explicit compile hint, so that its functions are compiled as it loads (off the main thread
# while it streams in), not one by one in the middle of the page's first drawing.
COMPILE_HINT = b"//# allFunctionsCalledOnLoad\n"
MODULES = (
    "dashboard.js",
    "api.js",
    "dom.js",
    "i18n.js",
    "prefs.js",
    "charts.js",
    "history.js",
    "usage.js",
    "advice.js",
    "fit.js",
)

# URL name -> (file inside this package, content type). Names hold no "/": the Dify endpoint's
# route matches one path segment.
_ASSETS: dict[str, tuple[str, str]] = {
    **{name: (name, JS) for name in MODULES},
    "dashboard.css": ("dashboard.css", CSS),
    "echarts.min.js": ("static/echarts.min.js", JS),  # bundled at build time (make web)
    "favicon.svg": ("static/favicon.svg", SVG),
    **{f"messages-{code}.json": (f"messages/{code}.json", JSON) for code in LANGUAGES},
}


def _package_file(relative: str) -> Traversable:
    node = files(__name__)
    for part in relative.split("/"):
        node = node / part
    return node


def page_html() -> str:
    """The dashboard page (`index.html`)."""
    return _package_file("index.html").read_text(encoding="utf-8")


def asset_names() -> list[str]:
    """Names that `static_asset` serves."""
    return sorted(_ASSETS)


def static_asset(name: str) -> tuple[bytes, str] | None:
    """An asset's bytes and content type, or None for an unknown name or a file not built."""
    entry = _ASSETS.get(name)
    if entry is None:
        return None
    relative, content_type = entry
    node = _package_file(relative)
    if not node.is_file():
        return None
    return node.read_bytes(), content_type
