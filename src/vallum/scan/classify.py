"""Identify a model file's container format from its bytes, never its name."""

from __future__ import annotations

import enum

#: Opcodes a protocol 0/1 pickle plausibly starts with.
_P0_START = frozenset(b"(}])NIJKLMFSVUTXcigh")


class Kind(enum.StrEnum):
    PICKLE = "pickle"
    ZIP = "zip"
    NPY = "numpy-npy"
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    HDF5 = "hdf5"
    GZIP = "gzip"
    BZ2 = "bz2"
    XZ = "xz"
    TAR = "tar"
    UNKNOWN = "unknown"


def classify(head: bytes) -> Kind:
    """``head`` is the first bytes of the file (at least 512 for tar)."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return Kind.PICKLE
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Kind.ZIP
    if head.startswith(b"\x93NUMPY"):
        return Kind.NPY
    if head.startswith(b"GGUF"):
        return Kind.GGUF
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Kind.HDF5
    if head.startswith(b"\x1f\x8b"):
        return Kind.GZIP
    if head.startswith(b"BZh"):
        return Kind.BZ2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Kind.XZ
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Kind.TAR
    if _is_safetensors(head):
        return Kind.SAFETENSORS
    if _plausible_protocol0(head):
        return Kind.PICKLE
    return Kind.UNKNOWN


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size < 100_000_000 and head[8:9] == b"{"


def _plausible_protocol0(head: bytes) -> bool:
    """A protocol 0/1 pickle: a pickle opcode first and a STOP somewhere."""
    if not head or head[0] not in _P0_START or b"." not in head:
        return False
    if head[0] in b"cig":  # GLOBAL / INST / GET take a newline-terminated argument
        line = head[1:].split(b"\n", 1)[0]
        return b"\n" in head and line.replace(b".", b"").replace(b"_", b"").isalnum()
    return True
