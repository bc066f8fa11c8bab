"""A tiny pickle assembler for hostile test payloads: bytes are written, never loaded."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any


class Asm:
    """Emit opcodes by hand; each method returns ``self`` so payloads read as programs."""

    def __init__(self, proto: int | None = 4) -> None:
        self.out = bytearray()
        if proto is not None:
            self.out += bytes([0x80, proto])

    def raw(self, data: bytes) -> Asm:
        self.out += data
        return self

    def str_(self, s: str) -> Asm:
        raw = s.encode()
        if len(raw) < 256:
            return self.raw(b"\x8c" + bytes([len(raw)]) + raw)
        return self.raw(b"X" + struct.pack("<I", len(raw)) + raw)

    def binstring(self, s: str) -> Asm:
        raw = s.encode("latin-1")
        return self.raw(b"U" + bytes([len(raw)]) + raw)

    def bytes_(self, b: bytes) -> Asm:
        if len(b) < 256:
            return self.raw(b"C" + bytes([len(b)]) + b)
        return self.raw(b"B" + struct.pack("<I", len(b)) + b)

    def int_(self, v: int) -> Asm:
        return self.raw(b"J" + struct.pack("<i", v))

    def global_(self, module: str, name: str) -> Asm:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def stack_global(self, module: str, name: str) -> Asm:
        return self.str_(module).str_(name).raw(b"\x93")

    def mark(self) -> Asm:
        return self.raw(b"(")

    def tuple_(self) -> Asm:
        return self.raw(b"t")

    def tuple1(self) -> Asm:
        return self.raw(b"\x85")

    def tuple2(self) -> Asm:
        return self.raw(b"\x86")

    def empty_tuple(self) -> Asm:
        return self.raw(b")")

    def empty_dict(self) -> Asm:
        return self.raw(b"}")

    def empty_list(self) -> Asm:
        return self.raw(b"]")

    def reduce(self) -> Asm:
        return self.raw(b"R")

    def build(self) -> Asm:
        return self.raw(b"b")

    def newobj(self) -> Asm:
        return self.raw(b"\x81")

    def memoize(self) -> Asm:
        return self.raw(b"\x94")

    def binput(self, i: int) -> Asm:
        return self.raw(b"q" + bytes([i]))

    def binget(self, i: int) -> Asm:
        return self.raw(b"h" + bytes([i]))

    def pop(self) -> Asm:
        return self.raw(b"0")

    def value(self, v: Any) -> Asm:
        if isinstance(v, str):
            return self.str_(v)
        if isinstance(v, bytes):
            return self.bytes_(v)
        if isinstance(v, bool) or v is None:
            return self.raw({True: b"\x88", False: b"\x89", None: b"N"}[v])
        if isinstance(v, int):
            return self.int_(v)
        if isinstance(v, list):
            self.empty_list().mark()
            for item in v:
                self.value(item)
            return self.raw(b"e")
        if isinstance(v, tuple):
            self.mark()
            for item in v:
                self.value(item)
            return self.tuple_()
        raise TypeError(type(v))

    def call(self, module: str, name: str, *args: Any) -> Asm:
        """``module.name(*args)`` with STACK_GLOBAL (protocol >= 4) or GLOBAL."""
        if self.out[:1] == b"\x80" and self.out[1] >= 4:
            self.stack_global(module, name)
        else:
            self.global_(module, name)
        return self.value(tuple(args)).reduce()

    def stop(self) -> bytes:
        return bytes(self.out + b".")


def payload(module: str, name: str, *args: Any, proto: int = 4) -> bytes:
    return Asm(proto).call(module, name, *args).stop()


def zip_member_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def torch_zip(data_pkl: bytes, prefix: str = "archive") -> bytes:
    """The layout of ``torch.save``: data.pkl, version, byteorder, data/N."""
    return zip_member_bytes(
        [
            (f"{prefix}/data.pkl", data_pkl),
            (f"{prefix}/byteorder", b"little"),
            (f"{prefix}/data/0", struct.pack("<4f", 1, 2, 3, 4)),
            (f"{prefix}/version", b"3\n"),
        ]
    )


def patch_zip(data: bytes, *, flag_bits: int = 0, crc_xor: int = 0, local_name: str = "") -> bytes:
    """Tamper with every entry: general-purpose flag bits, CRC, or the local file name."""
    out = bytearray(data)
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) >= 0:
        struct.pack_into("<H", out, pos + 6, struct.unpack_from("<H", out, pos + 6)[0] | flag_bits)
        crc = struct.unpack_from("<I", out, pos + 14)[0] ^ crc_xor
        struct.pack_into("<I", out, pos + 14, crc)
        if local_name:
            nlen = struct.unpack_from("<H", out, pos + 26)[0]
            name = local_name.encode()[:nlen].ljust(nlen, b"_")
            out[pos + 30 : pos + 30 + nlen] = name
            local_name = ""
        pos += 4
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        struct.pack_into("<H", out, pos + 8, struct.unpack_from("<H", out, pos + 8)[0] | flag_bits)
        crc = struct.unpack_from("<I", out, pos + 16)[0] ^ crc_xor
        struct.pack_into("<I", out, pos + 16, crc)
        pos += 4
    return bytes(out)


def crc32(data: bytes) -> int:
    return zlib.crc32(data)
