"""One attempt to deliver: POST the body, and what the answer means for the delivery.

2xx: delivered. Connection errors, no answer within the attempt's time, 5xx, 408 and 429: the
receiver may take it later, so it is retried (after Retry-After, when the receiver says).
Any other answer (a 4xx: bad signature, unknown URL; a redirect, which is not followed) will
not change by retrying: the delivery is given up and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import requests

from gpu_insight.sources.bounded_http import (
    AnswerTooLargeError,
    AnswerTooSlowError,
    bounded_request,
    connection_cause,
)

RETRIED_STATUS = frozenset({408, 429})
MAX_ANSWER_BYTES = 1024 * 1024  # the receiver's answer is read and thrown away

OutcomeKind = Literal["delivered", "retry", "rejected"]


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    reason: str  # for the log and the outbox: "HTTP 503", "connection refused", ...
    retry_after_s: float | None = None


def outcome_of_status(status: int, retry_after: str | None = None) -> Outcome:
    reason = f"HTTP {status}"
    if 200 <= status < 300:
        return Outcome("delivered", reason)
    if status >= 500 or status in RETRIED_STATUS:
        wait = retry_after.strip() if retry_after else ""
        return Outcome("retry", reason, float(wait) if wait.isdecimal() else None)
    return Outcome("rejected", reason)


def attempt(
    session: requests.Session, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> Outcome:
    """POSTs once; the connection and the whole answer together take at most `timeout_s`."""
    try:
        response = bounded_request(
            session,
            "POST",
            url,
            headers=headers,
            body=body,
            connect_timeout_s=timeout_s,
            deadline_s=timeout_s,
            max_bytes=MAX_ANSWER_BYTES,
        )
    except (AnswerTooSlowError, requests.exceptions.Timeout):
        return Outcome("retry", f"no answer within {timeout_s:g} s")
    except AnswerTooLargeError:
        return Outcome("retry", f"an answer of more than {MAX_ANSWER_BYTES} bytes")
    except requests.exceptions.ConnectionError as error:
        return Outcome("retry", connection_cause(error))
    except requests.exceptions.RequestException as error:
        return Outcome("rejected", f"the request could not be made ({type(error).__name__})")
    return outcome_of_status(response.status_code, response.headers.get("Retry-After"))
