"""Bearer tokens and what each token may see (pure functions, no server)."""

from __future__ import annotations

import hmac

import pytest

from gpu_insight.collector.auth import (
    Authenticator,
    InvalidTokenError,
    MissingTokenError,
)
from gpu_insight.collector.config import AuthConfig, ProjectToken
from gpu_insight.collector.scope import scope_snapshot, visible_engines, visible_processes
from tests.collector.api_support import sample_snapshot

ADMIN = "admin-secret-token"
PROJECT = "project-secret-token"


def authenticator() -> Authenticator:
    return Authenticator(
        AuthConfig(token=ADMIN, project_tokens=[ProjectToken(token=PROJECT, apps=["search"])])
    )


def test_without_any_configured_token_everyone_sees_everything() -> None:
    principal = Authenticator(AuthConfig()).authenticate(None)
    assert principal.apps is None


def test_admin_token_sees_everything() -> None:
    principal = authenticator().authenticate(f"Bearer {ADMIN}")
    assert (principal.name, principal.apps) == ("admin", None)


def test_project_token_is_limited_to_its_apps() -> None:
    principal = authenticator().authenticate(f"Bearer {PROJECT}")
    assert principal.apps == frozenset({"search"})


def test_scheme_is_case_insensitive() -> None:
    assert authenticator().authenticate(f"bearer {ADMIN}").name == "admin"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", f"Basic {ADMIN}", ADMIN])
def test_absent_or_non_bearer_credentials_count_as_missing(header: str | None) -> None:
    with pytest.raises(MissingTokenError):
        authenticator().authenticate(header)


@pytest.mark.parametrize("token", ["wrong", ADMIN[:-1], ADMIN + "x", "ädmin-secret-token"])
def test_any_other_token_is_invalid(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        authenticator().authenticate(f"Bearer {token}")


def test_error_messages_never_contain_the_presented_token() -> None:
    with pytest.raises(InvalidTokenError) as caught:
        authenticator().authenticate(f"Bearer {ADMIN}-guess")
    assert ADMIN not in str(caught.value)


def test_every_known_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real_compare_digest = hmac.compare_digest

    def recording_compare_digest(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real_compare_digest(a, b)

    monkeypatch.setattr("gpu_insight.collector.auth.hmac.compare_digest", recording_compare_digest)
    authenticator().authenticate(f"Bearer {ADMIN}")  # matches the first: no early exit
    assert compared == [ADMIN.encode(), PROJECT.encode()]


def test_scoped_snapshot_keeps_only_the_apps_processes_and_engines() -> None:
    scoped = scope_snapshot(sample_snapshot(), frozenset({"search"}))
    assert [p.pid for p in scoped.processes] == [777]
    assert [e.app for e in scoped.engines] == ["search"]


def test_scoped_snapshot_keeps_every_gpu_and_alert() -> None:
    full = sample_snapshot()
    scoped = scope_snapshot(full, frozenset({"search"}))
    assert scoped.gpus == full.gpus
    assert scoped.alerts == full.alerts


def test_scoping_leaves_the_stored_snapshot_untouched() -> None:
    full = sample_snapshot()
    scope_snapshot(full, frozenset({"search"}))
    assert len(full.processes) == 4


def test_admin_scope_is_the_identity() -> None:
    full = sample_snapshot()
    assert scope_snapshot(full, None) is full
    assert visible_processes(full.processes, None) == full.processes
    assert visible_engines(full.engines, None) == full.engines


def test_unattributed_processes_are_hidden_from_every_project() -> None:
    visible = visible_processes(sample_snapshot().processes, frozenset({"support-bot", "search"}))
    assert 5151 not in [p.pid for p in visible]
