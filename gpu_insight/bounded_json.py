"""A JSON object from an untrusted request body, bounded in size, nesting and number length
before anything is built from it: a hostile body must cost little and fail with a sentence.
Shared by the plugin's endpoints and the collector's POST routes."""

from __future__ import annotations

import json
from typing import Any

from gpu_insight.errors import InputError

MAX_BODY_BYTES = 256 * 1024  # a pasted config.json is a few KiB
MAX_BODY_DEPTH = 32
MAX_BODY_INT_DIGITS = 32


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """`body` as a JSON object of `what`; InputError with one sentence otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise InputError(f"The body is over {MAX_BODY_BYTES // 1024} KiB; send {what} only.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"The body must be UTF-8 JSON: a JSON object of {what}.") from None
    if _nesting_depth(text) > MAX_BODY_DEPTH:
        raise InputError(f"The body nests deeper than {MAX_BODY_DEPTH} levels; send {what}.")
    try:
        payload = json.loads(text or "{}", parse_int=_bounded_int)
    except ValueError:  # JSONDecodeError, or a number past _bounded_int's limit
        payload = None
    if not isinstance(payload, dict):
        raise InputError(f"The body must be a JSON object of {what}.")
    return payload


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_BODY_INT_DIGITS:
        raise ValueError("number too long")
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
