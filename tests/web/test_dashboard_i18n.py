"""The page in its four languages: one message table each, chosen by the browser's language or
the switch on the page, numbers and times formatted for the locale, no string outside them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from importlib.resources import files
from typing import Any

import pytest
from playwright.sync_api import Page, Response, Route

from gpu_insight import web
from tests.support.collector_process import CollectorProcess
from tests.web.conftest import OpenPage, show_charts

pytestmark = pytest.mark.browser

WEB = files("gpu_insight.web")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Words the browser's Intl writes itself: units, day periods, the languages' own names.
INTL_WORDS = {"min", "hr", "sec", "AM", "PM", "C", "English", "Português", "Brasil"}


def table(code: str) -> dict[str, Any]:
    return json.loads((WEB / "messages" / f"{code}.json").read_text(encoding="utf-8"))


def forms(message: str | dict[str, str]) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [message]


def test_the_page_offers_the_languages_it_has_a_table_for() -> None:
    script = (WEB / "i18n.js").read_text(encoding="utf-8")
    listed = re.search(r"export const LANGUAGES = \[([^\]]*)\]", script)
    assert listed is not None
    offered = re.findall(r'"([^"]+)"', listed.group(1))
    assert offered == ["en", "zh-Hans", "ja", "pt-BR"]
    assert sorted(offered) == list(web.LANGUAGES)


@pytest.mark.parametrize("code", ["zh-Hans", "ja", "pt-BR"])
def test_every_table_has_every_english_message_with_its_placeholders(code: str) -> None:
    english, translated = table("en"), table(code)
    assert list(translated) == list(english)
    for key, message in english.items():
        wanted = {name for form in forms(message) for name in PLACEHOLDER.findall(form)}
        for form in forms(translated[key]):
            assert set(PLACEHOLDER.findall(form)) <= wanted, (code, key, form)
        if isinstance(message, dict):
            assert isinstance(translated[key], dict) and "other" in translated[key], key


class _VisibleText(HTMLParser):
    """Text and human-readable attributes written into index.html itself."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._skip = 0
        self._option_without_value = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self._skip += tag in ("script", "style")
        self._option_without_value = tag == "option" and "value" not in named
        for attribute in ("placeholder", "aria-label", "title", "alt", "label"):
            if named.get(attribute):
                self.found.append(f"{tag}[{attribute}]={named[attribute]}")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")
        self._option_without_value = False

    def handle_data(self, data: str) -> None:
        # An option named by its value (bf16, q4_k_m) shows an identifier, not a phrase.
        if data.strip() and not self._skip and not self._option_without_value:
            self.found.append(data.strip())


def test_the_page_itself_holds_no_visible_string() -> None:
    parser = _VisibleText()
    parser.feed(web.page_html())
    assert parser.found == []


def marker_table() -> dict[str, Any]:
    """English's keys, each message replaced by a marker naming its key and keeping its
    placeholders: whatever the page shows that is not a marker did not come from a table."""

    def mark(key: str, form: str) -> str:
        return "⟦" + "|".join([key, *(f"{{{p}}}" for p in PLACEHOLDER.findall(form))]) + "⟧"

    return {
        key: {k: mark(key, v) for k, v in message.items()}
        if isinstance(message, dict)
        else mark(key, message)
        for key, message in table("en").items()
    }


READ_EVERYTHING = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (node.textContent.trim() && parent.checkVisibility() && !parent.closest("canvas"))
      texts.push(node.textContent);
  }
  for (const node of document.querySelectorAll("[placeholder], [aria-label], [title], optgroup"))
    for (const name of ["placeholder", "aria-label", "title", "label"])
      if (node.getAttribute(name)) texts.push(node.getAttribute(name));
  for (const box of document.querySelectorAll(".chart")) {
    const chart = echarts.getInstanceByDom(box);
    if (chart) for (const s of chart.getOption().series) if (s.name) texts.push(s.name);
  }
  texts.push(document.title);
  return texts;
}"""


def words_of(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(re.findall(r"[^\W\d_]+", value))
    if isinstance(value, dict):
        return set().union(*(words_of(v) for v in [*value.keys(), *value.values()]), set())
    if isinstance(value, list):
        return set().union(*(words_of(v) for v in value), set())
    return set()


def test_every_string_the_page_shows_comes_from_the_message_table_or_the_data(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    watched = open_page()
    page = watched.page
    page.route(
        "**/static/messages-en.json",
        lambda route: route.fulfill(json=marker_table()),
    )
    data: list[Any] = []

    def keep(response: Response) -> None:
        if "/v1/" in response.url and response.ok:
            data.append(response.json())

    page.on("response", keep)
    page.goto(f"{replay_collector.url}/#token={replay_collector.token}")
    page.wait_for_selector("#advice > li")
    page.wait_for_selector("#usage-table tbody tr")
    show_charts(page)
    shown = page.evaluate(READ_EVERYTHING)
    known = words_of(data) | INTL_WORDS
    leftovers = set()
    for text in shown:
        while "⟦" in text:  # markers nest: a message placed into another
            unmarked = re.sub(r"⟦[^⟦⟧]*⟧", " ", text)
            if unmarked == text:
                break
            text = unmarked
        leftovers |= words_of(text) - known
    assert leftovers == set()
    assert watched.errors == []


READ_LABELS = """() => ({
  lang: document.documentElement.lang,
  title: document.title,
  processes: document.querySelector("#processes-title span").textContent,
  usage: document.getElementById("usage-title").textContent,
  chosen: document.getElementById("language").selectedOptions[0].textContent,
  used: document.querySelector("#gpus .card .mem-detail").textContent,
  updated: document.getElementById("updated").textContent,
})"""


def open_dashboard(page: Page, collector: CollectorProcess) -> dict[str, str]:
    page.goto(f"{collector.url}/#token={collector.token}")
    page.wait_for_selector("#gpus .card")
    return page.evaluate(READ_LABELS)


@pytest.mark.parametrize(
    ("locale", "lang", "processes", "usage", "chosen"),
    [
        ("zh-CN", "zh-Hans", "进程", "费用与用量", "简体中文"),
        ("ja-JP", "ja", "プロセス", "コストと利用量", "日本語"),
        ("pt-BR", "pt-BR", "Processos", "Custo e uso", "Português (Brasil)"),
        ("fr-FR", "en", "Processes", "Cost and usage", "English"),
    ],
)
def test_the_page_follows_the_browsers_language(
    open_page: OpenPage,
    replay_collector: CollectorProcess,
    locale: str,
    lang: str,
    processes: str,
    usage: str,
    chosen: str,
) -> None:
    shown = open_dashboard(open_page(locale=locale).page, replay_collector)
    assert (shown["lang"], shown["processes"], shown["usage"], shown["chosen"]) == (
        lang,
        processes,
        usage,
        chosen,
    )


def test_numbers_and_times_are_written_the_locales_way(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    brazil = open_dashboard(open_page(locale="pt-BR").page, replay_collector)
    america = open_dashboard(open_page(locale="en-US").page, replay_collector)
    assert re.match(r"\d+,\d GiB em uso · ", brazil["used"])
    assert re.match(r"\d+\.\d GiB used · ", america["used"])
    assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", brazil["updated"])
    assert re.fullmatch(r"\d{1,2}:\d{2}:\d{2}\s[AP]M", america["updated"])


def test_the_switch_changes_the_language_without_a_reload_and_is_kept(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    page = open_page().page
    open_dashboard(page, replay_collector)
    page.evaluate("() => { window.sameDocument = true; }")
    page.select_option("#language", "ja")
    page.wait_for_function("() => document.documentElement.lang === 'ja'")
    assert page.locator("#usage-title").inner_text() == "コストと利用量"
    assert page.evaluate("() => window.sameDocument") is True
    page.reload()
    page.wait_for_selector("#gpus .card")
    assert page.evaluate(READ_LABELS)["processes"] == "プロセス"


def test_through_the_endpoint_the_page_speaks_the_browsers_language(
    open_page: OpenPage, endpoint_base_url: str
) -> None:
    from tests.web.conftest import ENDPOINT_API_KEY

    page = open_page(locale="zh-CN").page
    page.goto(f"{endpoint_base_url}/dashboard#key={ENDPOINT_API_KEY}")
    page.wait_for_selector("#gpus .card")
    assert page.locator("#usage-title").inner_text() == "费用与用量"


def test_a_language_the_server_lacks_falls_back_to_english(
    open_page: OpenPage, replay_collector: CollectorProcess
) -> None:
    page = open_page(locale="ja-JP").page

    def missing(route: Route) -> None:
        route.fulfill(status=404, json={"error": "not_found", "message": "no such asset"})

    page.route("**/static/messages-ja.json", missing)
    assert open_dashboard(page, replay_collector)["processes"] == "Processes"
