"""A minimal protocol-buffers wire reader (enough to walk ONNX initializers).

It never allocates more than the input: fields are yielded as (number, wire
type, value) where a length-delimited value is a ``memoryview`` slice of the
input. Malformed input raises ``WireError``; callers treat it as "no
fingerprint", never as a crash.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
_MAX_VARINT = 10


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    value = shift = 0
    for i in range(_MAX_VARINT):
        if pos + i >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise WireError("varint longer than 10 bytes")


def fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Each field of one message: (field number, wire type, int or bytes slice)."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire, value
        elif wire == FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == LEN:
            size, pos = read_varint(buf, pos)
            if size > end - pos:
                raise WireError("length-delimited field runs past its message")
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire}")


def varints(buf: memoryview) -> Iterator[int]:
    """The values of a packed repeated varint field."""
    pos = 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos)
        yield value
