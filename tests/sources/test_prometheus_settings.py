"""Prometheus settings: what each accepts, and a sentence naming the setting for what it does not.
A password in the URL is split off for basic auth and never appears in a message."""

from __future__ import annotations

import pytest

from gpu_insight.errors import SettingsError
from gpu_insight.sources.fleet import CollectorFleet
from gpu_insight.sources.prometheus.promql import Matcher, one_of, parse_matchers
from gpu_insight.sources.prometheus.settings import (
    parse_app_rules,
    parse_apps,
    parse_prometheus_url,
    parse_selector,
    prometheus_settings,
)
from gpu_insight.sources.prometheus.source import PrometheusSource
from gpu_insight.sources.source import source_from

SECRET = "s3cr3t-pw"


def test_a_user_and_password_in_the_url_become_basic_auth_and_leave_the_url() -> None:
    url, auth = parse_prometheus_url(f"https://dify:{SECRET}@prom.example:9090/prometheus/")
    assert url == "https://prom.example:9090/prometheus"
    assert auth == ("dify", SECRET)


@pytest.mark.parametrize(
    "text",
    [
        f"dify:{SECRET}@prom.example:9090",  # no scheme
        f"http://dify:{SECRET}@prom.example:port",  # a port that is not a number
        f"ftp://dify:{SECRET}@prom.example",
    ],
)
def test_a_url_that_is_not_http_is_refused_without_echoing_its_password(text: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_prometheus_url(text)
    assert SECRET not in str(refused.value)
    assert refused.value.parameter == "prometheus_url"


def test_a_query_in_the_url_is_refused_naming_the_url_without_its_credentials() -> None:
    with pytest.raises(SettingsError, match=r"^prometheus_url 'http://prom:9090' must not have"):
        parse_prometheus_url(f"http://u:{SECRET}@prom:9090?token={SECRET}")


def test_a_password_and_a_token_at_once_is_a_choice_to_make() -> None:
    values = {"prometheus_url": f"http://u:{SECRET}@prom:9090", "prometheus_token": "t"}
    with pytest.raises(SettingsError, match="use one of them") as refused:
        prometheus_settings(values)
    assert SECRET not in str(refused.value)


def test_selector_matchers_are_kept_as_written_with_or_without_braces() -> None:
    text = 'cluster="prod", namespace=~"llm-.*",job!~`dcgm|node`'
    expected = (
        Matcher("cluster", "=", '"prod"'),
        Matcher("namespace", "=~", '"llm-.*"'),
        Matcher("job", "!~", "`dcgm|node`"),
    )
    assert parse_selector(text) == expected
    assert parse_selector("{" + text + ",}") == expected


@pytest.mark.parametrize(
    "text",
    [
        'cluster="prod"} or vector(1) or {a="b"',  # would change the query's shape
        "cluster=prod",  # an unquoted value
        'cluster="prod" job="x"',  # no comma
        '__name__=~".+"',  # picks the series itself
    ],
)
def test_a_selector_that_is_not_plain_label_matchers_is_refused(text: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_selector(text)
    assert refused.value.parameter == "prometheus_selector"


def test_app_names_are_matched_literally_even_with_regex_characters() -> None:
    matcher = one_of("app", ["a.b", 'q"x', "c|d"])
    assert str(matcher) == 'app=~"a\\\\.b|c\\\\|d|q\\"x"'
    assert parse_matchers(str(matcher)) == (matcher,)  # still one PromQL matcher


def test_apps_are_a_comma_separated_set_and_empty_means_every_app() -> None:
    assert parse_apps(" support-bot, nightly-eval ,") == frozenset({"support-bot", "nightly-eval"})
    assert parse_apps("") is None and parse_apps(None) is None


def test_mapping_rules_match_in_order_and_star_takes_the_value() -> None:
    rules = parse_app_rules("namespace=llm:bot/care ; app_kubernetes_io_name=*:* ; namespace=*:/*")
    first = {"namespace": "llm", "app_kubernetes_io_name": "chat"}
    assert [r.match(first) for r in rules] == [("bot", "care"), ("chat", None), (None, "llm")]
    assert rules[0].match({"namespace": "other"}) is None


@pytest.mark.parametrize("text", ["namespace:bot", "namespace=x", "=x:bot", "namespace=x:/"])
def test_a_mapping_rule_without_label_value_and_app_or_team_is_refused(text: str) -> None:
    with pytest.raises(SettingsError, match=r"^prometheus_app_mapping: .* is not a rule"):
        parse_app_rules(text)


def test_the_source_is_prometheus_when_its_url_is_set_and_collectors_otherwise() -> None:
    both = {"prometheus_url": "http://prom:9090", "collector_url": "http://gpu:9470"}
    assert isinstance(source_from(both), PrometheusSource)
    assert isinstance(source_from({"collector_url": "http://gpu:9470"}), CollectorFleet)


def test_neither_url_set_names_both_settings() -> None:
    with pytest.raises(SettingsError, match=r"^Neither collector_url nor prometheus_url is set"):
        source_from({"collector_url": " ", "prometheus_url": ""})
