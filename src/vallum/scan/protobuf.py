"""A small, bounded reader for the protobuf wire format (no schema, no code generation).

Used for ONNX, TF SavedModel and Keras metadata; reusable elsewhere (for example
per-tensor digests): :func:`iter_fields` walks one message's fields lazily,
:func:`fields` groups them by number, and a length-delimited field's payload can
be read again as a nested message. Every length is checked against the buffer;
anything the wire format does not allow raises :class:`ProtobufError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class Field:
    """One field as it appears on the wire; ``data`` is set for length-delimited fields."""

    number: int
    wire_type: int
    value: int = 0
    data: memoryview | None = None

    @property
    def payload(self) -> memoryview:
        if self.data is None:
            raise ProtobufError(f"field {self.number} is not length-delimited")
        return self.data

    def text(self) -> str:
        """The payload as UTF-8 (protobuf ``string``); invalid UTF-8 raises."""
        try:
            return bytes(self.payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtobufError(f"field {self.number} is not UTF-8") from exc

    def message(self) -> Iterator[Field]:
        """The payload read as a nested message."""
        return iter_fields(self.payload)


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result, shift = 0, 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos + i]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >= 1 << 64:
                raise ProtobufError("varint over 64 bits")
            return result, pos + i + 1
        shift += 7
    raise ProtobufError("varint longer than 10 bytes")


def iter_fields(data: bytes | bytearray | memoryview) -> Iterator[Field]:
    """Every field of one message, in wire order; raises ProtobufError on bad input."""
    buf = data if isinstance(data, memoryview) else memoryview(data)
    if buf.ndim != 1 or buf.itemsize != 1:
        buf = buf.cast("B")
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number >= 1 << 29:
            raise ProtobufError(f"invalid field number {number}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos)
            yield Field(number, wire_type, value)
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise ProtobufError("truncated fixed64")
            yield Field(number, wire_type, int.from_bytes(buf[pos : pos + 8], "little"))
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise ProtobufError("truncated fixed32")
            yield Field(number, wire_type, int.from_bytes(buf[pos : pos + 4], "little"))
            pos += 4
        elif wire_type == LEN:
            size, pos = read_varint(buf, pos)
            if size > end - pos:
                raise ProtobufError(f"field {number} length {size} past the end")
            yield Field(number, wire_type, size, buf[pos : pos + size])
            pos += size
        else:  # 3/4: deprecated groups; 6/7: undefined
            raise ProtobufError(f"unsupported wire type {wire_type} (field {number})")


def fields(data: bytes | bytearray | memoryview) -> dict[int, list[Field]]:
    """All fields of one message grouped by number (repeated fields keep their order)."""
    out: dict[int, list[Field]] = {}
    for f in iter_fields(data):
        out.setdefault(f.number, []).append(f)
    return out


def strings(msg: dict[int, list[Field]], number: int) -> list[str]:
    """The values of a (repeated) ``string`` field."""
    return [f.text() for f in msg.get(number, ()) if f.wire_type == LEN]


def first_string(msg: dict[int, list[Field]], number: int) -> str:
    """The last value of a singular ``string`` field (protobuf's last-wins rule), or ''."""
    values = strings(msg, number)
    return values[-1] if values else ""


def messages(msg: dict[int, list[Field]], number: int) -> list[memoryview]:
    """The payloads of a (repeated) message field."""
    out = []
    for f in msg.get(number, ()):
        if f.wire_type != LEN:
            raise ProtobufError(f"field {number} should be a message")
        out.append(f.payload)
    return out


def is_message(data: bytes | bytearray | memoryview, allowed: frozenset[int]) -> bool:
    """Whether ``data`` parses to the end with only ``allowed`` field numbers."""
    try:
        return all(f.number in allowed for f in iter_fields(data))
    except ProtobufError:
        return False
