"""Readers of checkpoint file headers, fed by byte ranges: safetensors and GGUF.

safetensors (huggingface/safetensors, "Format"): 8 bytes little-endian u64 N, then N bytes of
JSON mapping each tensor name to its dtype, shape and data offsets (plus `__metadata__`), then
the data. The format caps N at 100,000,000 bytes. GGUF (ggml docs/gguf.md, version 2 and 3):
magic `GGUF`, u32 version, u64 tensor count, u64 metadata count, the typed metadata key/values,
then per tensor its name, dimensions, ggml type and offset; the data follows, aligned. A GGUF
header has no length prefix, so it is read in growing ranges until the last tensor entry.
Neither reader ever asks for tensor data. Pure: the byte ranges come from a callable.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own limit; GGUF gets the same
SAFETENSORS_LENGTH_BYTES = 8
GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
FIRST_GGUF_RANGE_BYTES = 256 * 1024
LARGEST_GGUF_RANGE_BYTES = 8 * 1024 * 1024
KEPT_ARRAY_ITEMS = 4096  # longer arrays (vocabularies, merges) keep only their length
MAX_GGUF_DIMENSIONS = 8

Fetch = Callable[[int, int], bytes]  # (offset, length) → those bytes of the file


class HeaderError(Exception):
    """The header is not what its format says; the text says what is wrong."""


class HeaderTooLargeError(HeaderError):
    """The header declares or needs more than `MAX_HEADER_BYTES`."""


def safetensors_header_length(first: bytes) -> int:
    if len(first) != SAFETENSORS_LENGTH_BYTES:
        raise HeaderError(f"the file is shorter than the {SAFETENSORS_LENGTH_BYTES}-byte prefix")
    length = int.from_bytes(first, "little")
    if length > MAX_HEADER_BYTES:
        raise HeaderTooLargeError(
            f"it declares a header of {length:,} bytes, over the {MAX_HEADER_BYTES:,} bytes the "
            "safetensors format allows"
        )
    if length < 2:
        raise HeaderError(f"it declares a header of {length} bytes")
    return length


def parse_safetensors_header(raw: bytes) -> dict[str, Any]:
    """The tensor table: name → {dtype, shape, data_offsets}; `__metadata__` left out."""
    try:
        table = json.loads(raw.decode("utf-8").rstrip(" "))
    except (UnicodeDecodeError, ValueError):
        raise HeaderError("its header is not UTF-8 JSON") from None
    if not isinstance(table, dict):
        raise HeaderError("its header is not a JSON object")
    table.pop("__metadata__", None)
    for name, tensor in table.items():
        if not isinstance(tensor, dict) or not {"dtype", "shape"} <= tensor.keys():
            raise HeaderError(f"its entry for {name[:80]!r} has no dtype and shape")
    return table


@dataclass
class GgufHeader:
    version: int
    metadata: dict[str, Any]  # scalars, strings and short arrays
    array_lengths: dict[str, int]  # every array's length (long ones are not kept)
    tensors: list[tuple[str, int, tuple[int, ...]]] = field(default_factory=list)
    header_bytes: int = 0

    def number(self, key: str) -> int | float | None:
        value = self.metadata.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None


# GGUF metadata value types (gguf.md `gguf_metadata_value_type`) → struct format.
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


class _Cursor:
    """Reads the file front to back, fetching ranges only as far as parsing needs."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._buffer = b""
        self._buffer_at = 0  # file offset of the buffer's first byte
        self._at = 0  # file offset of the next byte to parse
        self._range = FIRST_GGUF_RANGE_BYTES

    @property
    def offset(self) -> int:
        return self._at

    def take(self, length: int) -> bytes:
        end = self._end(length)
        while self._buffer_at + len(self._buffer) < end:
            start = self._buffer_at + len(self._buffer)
            size = max(self._range, end - start)
            piece = self._fetch(start, size)
            if not piece:
                raise HeaderError("the file ends inside its header")
            self._buffer += piece
            self._range = min(self._range * 2, LARGEST_GGUF_RANGE_BYTES)
        data = self._buffer[self._at - self._buffer_at : end - self._buffer_at]
        self._at = end
        self._drop_parsed()
        return data

    def skip(self, length: int) -> None:
        """Pass over bytes nobody reads; past the buffer they are never fetched."""
        self._at = self._end(length)
        if self._at > self._buffer_at + len(self._buffer):
            self._buffer, self._buffer_at = b"", self._at
        self._drop_parsed()

    def _end(self, length: int) -> int:
        end = self._at + length
        if end > MAX_HEADER_BYTES:
            raise HeaderTooLargeError(
                f"its header runs past {MAX_HEADER_BYTES:,} bytes (or declares a length that does)"
            )
        return end

    def _drop_parsed(self) -> None:
        used = self._at - self._buffer_at
        if used > LARGEST_GGUF_RANGE_BYTES:
            self._buffer, self._buffer_at = self._buffer[used:], self._at

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("<Q")
        return self.take(length).decode("utf-8", errors="replace")


def read_gguf_header(fetch: Fetch) -> GgufHeader:
    cursor = _Cursor(fetch)
    if cursor.take(4) != GGUF_MAGIC:
        raise HeaderError("it does not start with the GGUF magic bytes")
    version = cursor.unpack("<I")
    if version not in GGUF_VERSIONS:
        raise HeaderError(f"it is GGUF version {version}; versions 2 and 3 are read")
    tensor_count, kv_count = cursor.unpack("<Q"), cursor.unpack("<Q")
    header = GgufHeader(version=version, metadata={}, array_lengths={})
    for _ in range(kv_count):
        key = cursor.string()
        kind = cursor.unpack("<I")
        if kind == _ARRAY:
            item_kind, count = cursor.unpack("<I"), cursor.unpack("<Q")
            header.array_lengths[key] = count
            items = _array(cursor, item_kind, count)
            if items is not None:
                header.metadata[key] = items
        else:
            header.metadata[key] = _value(cursor, kind)
    for _ in range(tensor_count):
        name = cursor.string()
        dims = cursor.unpack("<I")
        if dims > MAX_GGUF_DIMENSIONS:
            raise HeaderError(f"tensor {name[:80]!r} has {dims} dimensions")
        shape = tuple(cursor.unpack("<Q") for _ in range(dims))
        ggml_type = cursor.unpack("<I")
        cursor.skip(8)  # the data offset
        header.tensors.append((name, ggml_type, shape))
    header.header_bytes = cursor.offset
    return header


def _value(cursor: _Cursor, kind: int) -> Any:
    if kind == _STRING:
        return cursor.string()
    if kind in _SCALARS:
        return cursor.unpack(_SCALARS[kind])
    raise HeaderError(f"a metadata value has unknown type {kind}")


def _array(cursor: _Cursor, kind: int, count: int) -> list[Any] | None:
    """The items of a short array; a long one is passed over (fixed-size items unread)."""
    if kind == _ARRAY:
        raise HeaderError("a metadata array holds arrays")
    if count <= KEPT_ARRAY_ITEMS:
        return [_value(cursor, kind) for _ in range(count)]
    if kind in _SCALARS:
        cursor.skip(count * struct.calcsize(_SCALARS[kind]))
    else:
        for _ in range(count):
            _value(cursor, kind)
    return None
