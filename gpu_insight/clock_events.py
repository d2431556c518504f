"""NVML's clocks-event (throttle) reasons as a bitmask: each reason's bit, and a mask read as
reason names and back.

The collector reads the mask from NVML and exports it beside its 0/1 series per reason; the
plugin reads that one series per GPU through Prometheus instead of one per reason, as it reads
dcgm-exporter's. Bits NVML adds later are named by their value (`reason_0x200`).
"""

from __future__ import annotations

from collections.abc import Iterable

from gpu_insight.schemas import CLOCK_EVENT_REASONS

# nvmlClocksEventReason* of nvml.h (ABI-stable since the throttle-reason days), in the order of
# CLOCK_EVENT_REASONS
REASON_BITS: dict[str, int] = dict(
    zip(
        CLOCK_EVENT_REASONS,
        (0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100),
        strict=True,
    )
)
_UNKNOWN = "reason_0x"


def reasons_of(mask: int) -> list[str]:
    """The names of the bits set in `mask`: known reasons in their order, then unknown bits
    from the lowest."""
    names = [name for name, bit in REASON_BITS.items() if mask & bit]
    rest = mask & ~sum(REASON_BITS.values())
    names += [f"{_UNKNOWN}{1 << n:x}" for n in range(rest.bit_length()) if rest >> n & 1]
    return names


def mask_of(reasons: Iterable[str]) -> int:
    """The mask of these reason names (`reasons_of`'s inverse); a name it does not know
    counts nothing."""
    mask = 0
    for name in reasons:
        bit = REASON_BITS.get(name)
        if bit is None and name.startswith(_UNKNOWN):
            digits = name.removeprefix(_UNKNOWN)
            bit = int(digits, 16) if digits and all(c in "0123456789abcdef" for c in digits) else 0
        mask |= bit or 0
    return mask
