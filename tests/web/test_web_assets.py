"""The dashboard page and its assets as `gpu_insight.web` hands them to both servers."""

from __future__ import annotations

import json
import re

import pytest

from gpu_insight import web


def referenced_assets(html: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="static/([^"]+)"', html))


def test_the_page_is_html_that_loads_its_scripts_by_relative_url() -> None:
    html = web.page_html()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert referenced_assets(html) == {
        "dashboard.js",
        "dashboard.css",
        "echarts.min.js",
        "favicon.svg",
    }
    assert 'src="/' not in html and 'href="/' not in html


def test_the_page_loads_nothing_from_another_origin() -> None:
    assert "://" not in web.page_html()


def test_every_asset_the_page_references_is_served() -> None:
    for name in referenced_assets(web.page_html()):
        assert web.static_asset(name) is not None, name


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"),
        ("echarts.min.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_come_with_their_content_type(name: str, content_type: str) -> None:
    asset = web.static_asset(name)
    assert asset is not None
    body, served_type = asset
    assert served_type == content_type
    assert body


def test_the_bundled_echarts_is_the_pinned_release() -> None:
    asset = web.static_asset("echarts.min.js")
    assert asset is not None
    assert b'version:"6.1.0"' in asset[0]


@pytest.mark.parametrize("name", [*web.MODULES, "echarts.min.js"])
def test_every_script_is_compiled_while_it_loads(name: str) -> None:
    asset = web.static_asset(name)
    assert asset is not None
    assert asset[0].startswith(web.COMPILE_HINT)


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "__init__.py",
        "../__init__.py",
        "static/echarts.min.js",
        "..%2f__init__.py",
        "/etc/passwd",
        "",
        "DASHBOARD.JS",
    ],
)
def test_names_outside_the_list_are_not_served(name: str) -> None:
    assert web.static_asset(name) is None


def test_asset_names_lists_exactly_what_is_served() -> None:
    assert all(web.static_asset(name) is not None for name in web.asset_names())


def test_every_module_the_page_imports_is_served() -> None:
    entry = web.static_asset("dashboard.js")
    assert entry is not None
    seen, waiting = set(), ["dashboard.js"]
    while waiting:
        name = waiting.pop()
        seen.add(name)
        asset = web.static_asset(name)
        assert asset is not None, name
        assert asset[1] == "text/javascript; charset=utf-8"
        imported = re.findall(r'from "\./([^"]+)"', asset[0].decode())
        waiting.extend(set(imported) - seen)
    assert seen == set(web.MODULES)


def test_every_language_has_its_message_table_served_as_json() -> None:
    assert web.LANGUAGES == ("en", "ja", "pt-BR", "zh-Hans")
    for code in web.LANGUAGES:
        asset = web.static_asset(f"messages-{code}.json")
        assert asset is not None, code
        assert asset[1] == "application/json; charset=utf-8"
        assert isinstance(json.loads(asset[0]), dict)
