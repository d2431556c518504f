"""Bad input, one kind of it, and the one JSON shape of every error answer.

One base class carries what a caller needs to answer well (the sentence for the user and the
name of the parameter, setting or field at fault); subclasses exist only where a caller must
tell kinds apart (a bad setting is the operator's to fix, a bad parameter the caller's). The
collector and the plugin's endpoints answer every error as `error_body(code, message)`.
"""

from __future__ import annotations

from typing import Any

# A bad value is quoted, never echoed whole: it may be megabytes long or hold a secret.
MAX_QUOTED_CHARS = 80


class InputError(ValueError):
    """Input the caller can fix. `str(error)` is the sentence for the user; `parameter` names
    the parameter, setting or config field at fault (None when the input as a whole is)."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class SettingsError(InputError):
    """A plugin setting (tool credentials or endpoint settings) is missing or malformed."""


class UnknownModelError(InputError):
    """A model id that nothing resolves; the text lists the closest known names."""


def quoted(value: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    """`repr(value)` cut to `limit` characters, for messages that name a bad value."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        # repr of a huge int is slow and past 4,300 digits refused by Python
        return f"<a number of about {int(value.bit_length() * 0.30103) + 1:,} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_body(code: str, message: str) -> dict[str, str]:
    """The JSON every error answer carries: a stable snake_case code and one sentence."""
    return {"error": code, "message": message}
