"""Coercion and range checks for tool parameters, shared by every tool.

Dify passes parameters as raw JSON values (an LLM may send "0", 0, "all" or nothing). Each parser
either returns a typed value or raises `InputError` whose text names the parameter and what
is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpu_insight.errors import InputError, quoted
from gpu_insight.schemas import Gpu, Snapshot, choice_of

ALL_GPUS = "all"
MAX_TEXT_PARAMETER_CHARS = 256
MAX_GPU_INDEX = 1023


@dataclass(frozen=True)
class GpuSelector:
    """`all`, one index, or one UUID (GPU-… or MIG-…)."""

    index: int | None = None
    uuid: str | None = None

    @property
    def is_all(self) -> bool:
        return self.index is None and self.uuid is None

    def describe(self) -> str:
        if self.index is not None:
            return f"index {self.index}"
        return self.uuid or ALL_GPUS


def parse_gpu_selector(value: Any, name: str = "gpu") -> GpuSelector:
    accepted = f"use '{ALL_GPUS}', a GPU index such as 0, or a GPU UUID such as GPU-5f1c…"
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", ALL_GPUS)):
        return GpuSelector()
    if isinstance(value, bool):
        raise InputError(f"{name}: {value!r} is not accepted; {accepted}.", name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return GpuSelector(index=_gpu_index(value, name, accepted))
    text = str(value).strip()
    digits = text.removeprefix("-")
    if digits.isdecimal():  # isdecimal, not isdigit: int() cannot read "²"
        # Python refuses to read an int of over 4,300 digits; such an index is out of range
        index = int(text) if len(digits) <= len(str(MAX_GPU_INDEX)) else MAX_GPU_INDEX + 1
        return GpuSelector(index=_gpu_index(index, name, accepted))
    if text[:4].upper() in ("GPU-", "MIG-") and len(text) > 4:
        return GpuSelector(uuid=text[:4].upper() + text[4:])
    raise InputError(f"{name}: {quoted(value)} is not accepted; {accepted}.", name)


def parse_optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > MAX_TEXT_PARAMETER_CHARS:
        raise InputError(
            f"{name}: at most {MAX_TEXT_PARAMETER_CHARS} characters are accepted.", name
        )
    return text or None


def parse_choice[ChoiceT: str](
    value: Any, name: str, choices: Sequence[ChoiceT], default: ChoiceT
) -> ChoiceT:
    choice = parse_optional_choice(value, name, choices)
    return default if choice is None else choice


def parse_optional_choice[ChoiceT: str](
    value: Any, name: str, choices: Sequence[ChoiceT]
) -> ChoiceT | None:
    """One of `choices`, or None when the parameter is empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    choice = choice_of(str(value).strip().lower(), choices)
    if choice is not None:
        return choice
    raise InputError(
        f"{name}: {quoted(value)} is not accepted; use one of {', '.join(choices)}.", name
    )


def select_gpus(
    snapshot: Snapshot,
    selector: GpuSelector,
    host: str | None = None,
    gpu_name: str = "gpu",
    host_name: str = "host",
) -> list[Gpu]:
    """The GPUs a selector and an optional host pick; an empty pick is a parameter error
    that lists what exists."""
    gpus = snapshot.gpus
    if host is not None:
        hosts = sorted({g.host for g in gpus if g.host})
        gpus = [g for g in gpus if (g.host or "").lower() == host.lower()]
        if not gpus:
            raise InputError(
                f"{host_name}: {quoted(host)} is not a known host; use one of "
                f"{', '.join(hosts) or 'none (no GPUs reported)'} or leave it empty.",
                host_name,
            )
    if selector.is_all:
        return list(gpus)
    if selector.index is not None:
        picked = [g for g in gpus if g.index == selector.index]
    else:
        picked = [g for g in gpus if g.uuid.lower() == (selector.uuid or "").lower()]
    if not picked:
        indices = sorted({g.index for g in gpus})
        known = ", ".join(map(str, indices)) if indices else "none (no GPUs reported)"
        raise InputError(
            f"{gpu_name}: no GPU with {selector.describe()}; this view has GPU indices "
            f"{known} — use '{ALL_GPUS}', one of those indices, or a listed UUID.",
            gpu_name,
        )
    return picked


def _gpu_index(index: int, name: str, accepted: str) -> int:
    if not 0 <= index <= MAX_GPU_INDEX:
        raise InputError(
            f"{name}: {quoted(index)} is out of range; {accepted} (0 to {MAX_GPU_INDEX}).", name
        )
    return index
