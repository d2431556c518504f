"""The signature on every alert delivery: HMAC-SHA256 over the timestamp and the body.

The collector signs each attempt with the target's secret:
`X-GPU-Insight-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` beside
`X-GPU-Insight-Timestamp` (epoch seconds). A receiver recomputes the HMAC over the body exactly
as received, compares in constant time, and refuses a timestamp more than MAX_SKEW_S away from
its own clock, so a captured delivery cannot be replayed later. Every attempt is signed anew,
so a delivery retried for hours is still fresh when it finally arrives.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-GPU-Insight-Timestamp"
SIGNATURE_HEADER = "X-GPU-Insight-Signature"
DELIVERY_HEADER = "X-GPU-Insight-Delivery"
SCHEME = "sha256"
MAX_SKEW_S = 300.0


class SignatureError(Exception):
    """The request is not a genuine, fresh delivery; `code` is the error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of the signature header for this timestamp and body."""
    signed = timestamp.encode() + b"." + body
    return f"{SCHEME}={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def signed_headers(secret: str | None, body: bytes, now: float) -> dict[str, str]:
    """The timestamp header, and the signature header when the target has a secret."""
    timestamp = str(int(now))
    headers = {TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def check_signature(
    secret: str,
    timestamp: str | None,
    presented: str | None,
    body: bytes,
    now: float,
    max_skew_s: float = MAX_SKEW_S,
) -> None:
    """Raises SignatureError unless `presented` signs `body` at a `timestamp` near `now`.

    The signature is checked before the time, so a `timestamp_stale` answer is only ever given
    to a sender that knows the secret: it points at a clock, not at an attacker."""
    if not presented:
        raise SignatureError(
            "signature_missing", f"the request carries no {SIGNATURE_HEADER} header"
        )
    if not timestamp or not timestamp.strip().isdecimal():
        raise SignatureError(
            "timestamp_invalid",
            f"{TIMESTAMP_HEADER} must be the epoch seconds the request was signed at",
        )
    expected = signature(secret, timestamp.strip(), body)
    if not hmac.compare_digest(expected.encode(), presented.strip().encode()):
        raise SignatureError(
            "signature_mismatch",
            "the signature does not match: the sender's secret differs from this "
            "subscription's, or the body was changed on the way",
        )
    skew_s = now - int(timestamp)
    if abs(skew_s) > max_skew_s:
        raise SignatureError(
            "timestamp_stale",
            f"the delivery was signed {abs(skew_s):.0f} s {'ago' if skew_s > 0 else 'ahead'}, "
            f"more than {max_skew_s:.0f} s from this clock: a replay, or a clock that is off "
            "(check NTP on both hosts)",
        )
