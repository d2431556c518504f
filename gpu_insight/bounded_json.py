"""A JSON object from untrusted text (a request body, a pasted config.json), bounded in size,
nesting and number length before anything is built from it: hostile input must cost little and
fail with a sentence. Shared by the plugin's endpoints, the collector's POST routes and
vram_check's `model_config`."""

from __future__ import annotations

import json
from typing import Any

from gpu_insight.errors import InputError

MAX_BODY_BYTES = 256 * 1024  # a pasted config.json is a few KiB
MAX_BODY_DEPTH = 32
MAX_BODY_INT_DIGITS = 32


class _NumberTooLongError(ValueError):
    """A JSON integer past MAX_BODY_INT_DIGITS (Python refuses past 4,300, slowly)."""


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """`body` as a JSON object of `what`; InputError with one sentence otherwise."""
    if len(body) > MAX_BODY_BYTES:  # before decoding: a huge body costs nothing more
        raise InputError(f"The body is over {MAX_BODY_BYTES // 1024} KiB; send {what} only.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"The body must be UTF-8 JSON: a JSON object of {what}.") from None
    return parse_json_text(text or "{}", "The body", what)


def parse_json_text(
    text: str, subject: str, what: str, parameter: str | None = None
) -> dict[str, Any]:
    """`text` as a JSON object of `what`; else InputError(a sentence about `subject`,
    `parameter`). Its size is counted in characters (never more than its UTF-8 bytes)."""
    if len(text) > MAX_BODY_BYTES:
        raise InputError(
            f"{subject} is over {MAX_BODY_BYTES // 1024} KiB; send {what} only.", parameter
        )
    if _nesting_depth(text) > MAX_BODY_DEPTH:
        raise InputError(
            f"{subject} nests deeper than {MAX_BODY_DEPTH} levels; send {what}.", parameter
        )
    try:
        payload = json.loads(text, parse_int=_bounded_int)
    except _NumberTooLongError:
        raise InputError(
            f"{subject} holds a number of more than {MAX_BODY_INT_DIGITS} digits; send {what}.",
            parameter,
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{subject} is not valid JSON ({exc.msg} at line {exc.lineno}); send {what}.",
            parameter,
        ) from None
    if not isinstance(payload, dict):
        raise InputError(f"{subject} must be a JSON object of {what}.", parameter)
    return payload


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_BODY_INT_DIGITS:
        raise _NumberTooLongError
    return int(digits)


def _nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings, found without parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
