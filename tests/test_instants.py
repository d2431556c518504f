"""The plugin's reading of instants (`usage_params.parse_time`): every accepted and refused form.

The collector reads the same table over HTTP in `tests/collector/test_api_usage.py`.
"""

from __future__ import annotations

import math
import re

import pytest

from gpu_insight.answers.usage_query import parse_time
from gpu_insight.errors import InputError
from gpu_insight.instants import parse_instant
from tests.support.instant_forms import (
    ACCEPTED,
    EXAMPLE_TAIL,
    JUNE_1_2025,
    MAX_MESSAGE_CHARS,
    REFUSED,
)


@pytest.mark.parametrize(("text", "seconds"), ACCEPTED)
def test_accepted_text_is_read_as_epoch_seconds(text: str, seconds: float) -> None:
    assert parse_time(text, "from") == seconds


@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_refused_text_names_the_parameter_and_says_why(text: str, problem: str) -> None:
    with pytest.raises(InputError) as refusal:
        parse_time(text, "to")
    message = str(refusal.value)
    assert re.fullmatch(rf"to: '.+ {re.escape(problem)}{re.escape(EXAMPLE_TAIL)}", message)
    assert len(message) <= MAX_MESSAGE_CHARS


@pytest.mark.parametrize("value", [None, "", "   "])
def test_nothing_given_is_no_instant(value: object) -> None:
    assert parse_time(value, "from") is None


def test_a_number_is_epoch_seconds() -> None:
    assert parse_time(1748736000, "from") == parse_time(1748736000.0, "from") == JUNE_1_2025


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "True is not an ISO-8601 time or epoch seconds"),
        (1748736000000, "1748736000000 is out of range (epoch milliseconds? give epoch seconds)"),
        (-1, "-1 is out of range (before 1970-01-01)"),
        (math.inf, "inf is out of range (after 9999-12-31)"),
        (math.nan, "nan is out of range (not a number)"),
        (10**400, "<a number of about 401 digits> is out of range (after 9999-12-31)"),
        ([1748736000], "[1748736000] is not an ISO-8601 time or epoch seconds"),
    ],
    ids=["bool", "milliseconds", "negative", "infinite", "nan", "huge int", "list"],
)
def test_refused_numbers_and_other_values_name_the_parameter(value: object, problem: str) -> None:
    with pytest.raises(InputError, match=rf"^from: {re.escape(problem)};"):
        parse_time(value, "from")


def test_the_parser_raises_an_input_error_carrying_the_parameter() -> None:
    with pytest.raises(InputError) as refusal:
        parse_instant("soon", "to")
    assert refusal.value.parameter == "to"
