"""Bearer tokens: one admin token that sees everything, project tokens scoped to their apps.

The presented token is compared with every known token in constant time (no early exit), so
response timing does not reveal how much of a token was right or which kind matched. Tokens
never appear in messages, logs or exceptions; a principal is named by its role only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from gpu_insight.collector.config import AuthConfig
from gpu_insight.collector.scope import Apps


@dataclass(frozen=True)
class Principal:
    name: str  # "admin", "anonymous" or "project:<n>" (position in the config), never the token
    apps: Apps  # None: sees everything


class MissingTokenError(Exception):
    """No bearer token was presented (HTTP 401)."""


class InvalidTokenError(Exception):
    """A bearer token was presented but matches no configured token (HTTP 403)."""


ANONYMOUS = Principal(name="anonymous", apps=None)


class Authenticator:
    def __init__(self, config: AuthConfig) -> None:
        self._known: list[tuple[bytes, Principal]] = []
        if config.token:
            self._known.append((config.token.encode(), Principal(name="admin", apps=None)))
        for n, project in enumerate(config.project_tokens):
            principal = Principal(name=f"project:{n}", apps=frozenset(project.apps))
            self._known.append((project.token.encode(), principal))

    @property
    def required(self) -> bool:
        """False only when no token is configured at all (the loopback-only default)."""
        return bool(self._known)

    def principals(self) -> list[Principal]:
        return [principal for _, principal in self._known]

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal for an `Authorization` header value; raises when it is missing or wrong."""
        if not self.required:
            return ANONYMOUS
        presented = _bearer_token(authorization)
        if presented is None:
            raise MissingTokenError(
                "a bearer token is required: send 'Authorization: Bearer <token>'"
            )
        candidate = presented.encode()
        match: Principal | None = None
        for token, principal in self._known:
            if hmac.compare_digest(candidate, token) and match is None:
                match = principal
        if match is None:
            raise InvalidTokenError("the bearer token is not valid for this collector")
        return match


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
