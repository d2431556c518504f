"""The Prometheus settings (tool credentials and endpoint settings), parsed and checked.

`prometheus_url` (credentials as `user:password@` go out as basic auth and are never echoed),
`prometheus_token` (bearer), `prometheus_selector` (label matchers that scope every query),
`prometheus_apps` (the only apps whose processes and usage this workspace sees) and
`prometheus_app_mapping` (which namespace or pod-label values are which app and team, for
dcgm-exporter's Kubernetes labels).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from gpu_insight.errors import SettingsError, quoted
from gpu_insight.sources.prometheus.promql import LABEL_NAME, Matcher, parse_matchers
from gpu_insight.sources.settings import parse_token

URL_SETTING = "prometheus_url"
TOKEN_SETTING = "prometheus_token"
SELECTOR_SETTING = "prometheus_selector"
APPS_SETTING = "prometheus_apps"
MAPPING_SETTING = "prometheus_app_mapping"
URL_EXAMPLE = "http://prometheus:9090"
SELECTOR_EXAMPLE = 'cluster="prod",namespace=~"llm-.*"'
MAPPING_EXAMPLE = "namespace=llm-support:support-bot/customer-care; app_kubernetes_io_name=*:*"
MAX_NAME_CHARS = 128
WHOLE_VALUE = "*"  # in a mapping rule: any value (left of ':'), the value itself (right of it)
_RULE = re.compile(rf"^\s*({LABEL_NAME})\s*=\s*([^:]+?)\s*:\s*([^/]*?)\s*(?:/\s*(.*?)\s*)?$")
# label names the plugin's own queries and answers depend on; a selector must not override them
_RESERVED_LABELS = frozenset({"__name__"})


@dataclass(frozen=True)
class AppRule:
    """`label=value:app/team`: series whose `label` is `value` belong to `app` and `team`."""

    label: str
    value: str  # WHOLE_VALUE: any value
    app: str  # WHOLE_VALUE: the label's value; "" not set
    team: str

    def match(self, labels: Mapping[str, str]) -> tuple[str | None, str | None] | None:
        """(app, team) when this rule applies to a series' labels, else None."""
        found = labels.get(self.label, "")
        if not found or (self.value != WHOLE_VALUE and found != self.value):
            return None
        return _filled(self.app, found), _filled(self.team, found)


def _filled(template: str, found: str) -> str | None:
    if template == WHOLE_VALUE:
        return found
    return template or None


@dataclass(frozen=True)
class PrometheusSettings:
    url: str  # scheme, host, port and path prefix; never credentials
    token: str | None
    basic_auth: tuple[str, str] | None
    selector: tuple[Matcher, ...] = ()
    apps: frozenset[str] | None = None  # None: every app
    app_rules: tuple[AppRule, ...] = ()


def prometheus_url_of(values: Mapping[str, Any]) -> str | None:
    """The `prometheus_url` setting as text, None when not set."""
    url = values.get(URL_SETTING)
    if url is None or (isinstance(url, str) and not url.strip()):
        return None
    if not isinstance(url, str):
        raise SettingsError(f"{URL_SETTING} must be text, e.g. {URL_EXAMPLE}.", URL_SETTING)
    return url.strip()


def prometheus_settings(values: Mapping[str, Any]) -> PrometheusSettings:
    """Read tool credentials or endpoint settings that set `prometheus_url`."""
    text = prometheus_url_of(values)
    if text is None:
        raise SettingsError(
            f"{URL_SETTING} is empty; enter the Prometheus base URL, e.g. {URL_EXAMPLE}.",
            URL_SETTING,
        )
    url, basic_auth = parse_prometheus_url(text)
    token = parse_token(values.get(TOKEN_SETTING), TOKEN_SETTING)
    if token is not None and basic_auth is not None:
        raise SettingsError(
            f"{URL_SETTING} carries a user name and password and {TOKEN_SETTING} is set too; "
            "use one of them: the password in the URL (basic auth) or the token (bearer).",
            TOKEN_SETTING,
        )
    return PrometheusSettings(
        url=url,
        token=token,
        basic_auth=basic_auth,
        selector=parse_selector(values.get(SELECTOR_SETTING)),
        apps=parse_apps(values.get(APPS_SETTING)),
        app_rules=parse_app_rules(values.get(MAPPING_SETTING)),
    )


def parse_prometheus_url(text: str) -> tuple[str, tuple[str, str] | None]:
    """(the URL without credentials, the basic-auth pair if the URL carried one). Messages show
    the URL only once its credentials are gone."""
    try:
        split = urlsplit(text)
        port = split.port  # raises for a port that is not a number
    except ValueError:
        raise _not_an_http_url(None) from None
    if split.scheme not in ("http", "https") or not split.hostname:
        # Quoted only when it cannot hold a password: "user:pw@host" without a scheme can.
        raise _not_an_http_url(None if "@" in text else text)
    basic_auth = None
    if split.username is not None or split.password is not None:
        basic_auth = (unquote(split.username or ""), unquote(split.password or ""))
    host = split.hostname if ":" not in split.hostname else f"[{split.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    url = f"{split.scheme}://{netloc}{split.path}".rstrip("/")
    if split.query or split.fragment:
        raise SettingsError(
            f"{URL_SETTING} {quoted(url)} must not have a query or fragment; enter the base URL, "
            f"e.g. {URL_EXAMPLE} (with a path prefix if Prometheus is served under one).",
            URL_SETTING,
        )
    return url, basic_auth


def _not_an_http_url(shown: str | None) -> SettingsError:
    what = f"{URL_SETTING} {quoted(shown)}" if shown is not None else URL_SETTING
    return SettingsError(
        f"{what} is not an http(s) URL; enter the Prometheus base URL, e.g. {URL_EXAMPLE}.",
        URL_SETTING,
    )


def parse_selector(value: Any) -> tuple[Matcher, ...]:
    text = _optional_text(value, SELECTOR_SETTING)
    if text is None:
        return ()
    try:
        matchers = parse_matchers(text)
    except ValueError as bad:
        raise SettingsError(
            f"{SELECTOR_SETTING}: {quoted(str(bad), 40)} is not a label matcher; enter matchers "
            f"separated by commas, e.g. {SELECTOR_EXAMPLE}.",
            SELECTOR_SETTING,
        ) from None
    reserved = sorted({m.label for m in matchers} & _RESERVED_LABELS)
    if reserved:
        raise SettingsError(
            f"{SELECTOR_SETTING} must not match on {reserved[0]}: the plugin picks the series "
            "itself; match on target labels such as cluster, job or namespace.",
            SELECTOR_SETTING,
        )
    return matchers


def parse_apps(value: Any) -> frozenset[str] | None:
    text = _optional_text(value, APPS_SETTING)
    if text is None:
        return None
    apps = frozenset(part.strip() for part in text.split(",") if part.strip())
    for app in apps:
        if len(app) > MAX_NAME_CHARS or not app.isprintable():
            raise SettingsError(
                f"{APPS_SETTING}: {quoted(app, 40)} is not an app name; list app names "
                "separated by commas, e.g. support-bot, nightly-eval.",
                APPS_SETTING,
            )
    return apps or None


def parse_app_rules(value: Any) -> tuple[AppRule, ...]:
    text = _optional_text(value, MAPPING_SETTING)
    if text is None:
        return ()
    rules = []
    for part in (p for p in text.split(";") if p.strip()):
        found = _RULE.match(part)
        app, team = (found.group(3), found.group(4) or "") if found else ("", "")
        if found is None or not (app or team) or max(len(app), len(team)) > MAX_NAME_CHARS:
            raise SettingsError(
                f"{MAPPING_SETTING}: {quoted(part.strip(), 40)} is not a rule; write "
                f"label=value:app/team rules separated by ';' (* for any value, or for the "
                f"value itself), e.g. {MAPPING_EXAMPLE}.",
                MAPPING_SETTING,
            )
        rules.append(AppRule(found.group(1), found.group(2), app, team))
    return tuple(rules)


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise SettingsError(f"{name} must be text.", name)
    return value.strip()
