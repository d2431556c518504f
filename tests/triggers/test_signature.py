"""The delivery signature: HMAC-SHA256 over timestamp + "." + body, fresh within 5 minutes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gpu_insight.triggers.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    check_signature,
    signed_headers,
)

SECRET = "a-subscription-secret-0123456789"
BODY = b'{"rule":"gpu_memory_high","state":"firing"}'
NOW = 1_760_000_000.0


def documented_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The formula as the README states it, computed here without the code under test."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def code_of(secret: str, timestamp: str | None, signature: str | None, body: bytes) -> str:
    with pytest.raises(SignatureError) as raised:
        check_signature(secret, timestamp, signature, body, NOW)
    return raised.value.code


def test_signed_headers_carry_the_documented_hmac_of_timestamp_and_body() -> None:
    headers = signed_headers(SECRET, BODY, NOW)
    assert headers[TIMESTAMP_HEADER] == "1760000000"
    assert headers[SIGNATURE_HEADER] == documented_signature(SECRET, "1760000000", BODY)


def test_a_target_without_a_secret_gets_a_timestamp_and_no_signature() -> None:
    assert signed_headers(None, BODY, NOW) == {TIMESTAMP_HEADER: "1760000000"}


def test_a_genuine_delivery_signed_four_minutes_ago_passes() -> None:
    timestamp = str(int(NOW - 240))
    check_signature(SECRET, timestamp, documented_signature(SECRET, timestamp, BODY), BODY, NOW)


@pytest.mark.parametrize("offset_s", [-301, 301])
def test_a_delivery_signed_more_than_five_minutes_off_is_stale(offset_s: int) -> None:
    timestamp = str(int(NOW + offset_s))
    signature = documented_signature(SECRET, timestamp, BODY)
    assert code_of(SECRET, timestamp, signature, BODY) == "timestamp_stale"


def test_another_secret_does_not_match() -> None:
    signature = documented_signature("another-secret-0123456789", "1760000000", BODY)
    assert code_of(SECRET, "1760000000", signature, BODY) == "signature_mismatch"


def test_a_changed_body_does_not_match() -> None:
    signature = documented_signature(SECRET, "1760000000", BODY)
    assert code_of(SECRET, "1760000000", signature, BODY + b" ") == "signature_mismatch"


def test_a_changed_timestamp_does_not_match() -> None:
    signature = documented_signature(SECRET, "1760000000", BODY)
    assert code_of(SECRET, "1760000001", signature, BODY) == "signature_mismatch"


def test_a_stale_answer_is_given_only_to_a_sender_that_knows_the_secret() -> None:
    old = str(int(NOW - 3600))
    forged = documented_signature("not-the-secret-0123456789", old, BODY)
    assert code_of(SECRET, old, forged, BODY) == "signature_mismatch"


@pytest.mark.parametrize(
    ("timestamp", "signature", "code"),
    [
        ("1760000000", None, "signature_missing"),
        (None, "sha256=00", "timestamp_invalid"),
        ("1760000000.5", "sha256=00", "timestamp_invalid"),
        ("-1", "sha256=00", "timestamp_invalid"),
    ],
)
def test_missing_or_malformed_headers_are_named(
    timestamp: str | None, signature: str | None, code: str
) -> None:
    assert code_of(SECRET, timestamp, signature, BODY) == code


def test_no_refusal_names_the_secret() -> None:
    for signature in (None, "sha256=" + "0" * 64):
        with pytest.raises(SignatureError) as raised:
            check_signature(SECRET, "1760000000", signature, BODY, NOW)
        assert SECRET not in str(raised.value)
