"""Clocks-event reasons as NVML's bitmask, read as names and back."""

from __future__ import annotations

import pytest

from gpu_insight.clock_events import REASON_BITS, mask_of, reasons_of
from gpu_insight.schemas import CLOCK_EVENT_REASONS


def test_every_known_reason_is_read_in_order_and_unknown_bits_by_their_value() -> None:
    assert reasons_of(0x1FF | 0x1000 | 0x200) == [
        *CLOCK_EVENT_REASONS,
        "reason_0x200",
        "reason_0x1000",
    ]


def test_no_bit_set_is_no_reason() -> None:
    assert reasons_of(0) == []


@pytest.mark.parametrize("mask", [0x0, 0x4, 0x44, 0x1FF, 0x1FF | 0x800])
def test_a_mask_read_as_names_gives_the_same_mask_back(mask: int) -> None:
    assert mask_of(reasons_of(mask)) == mask


def test_names_it_does_not_know_count_nothing() -> None:
    assert mask_of(["sw_power_cap", "melted", "reason_0xzz", "reason_0x"]) == 0x4


def test_the_bits_are_those_of_the_nvml_binding() -> None:
    import pynvml

    for name, bit in REASON_BITS.items():
        suffix = "".join(part.capitalize() for part in name.split("_"))  # sw_power_cap → SwPowerCap
        assert getattr(pynvml, "nvmlClocksEventReason" + suffix) == bit, name
