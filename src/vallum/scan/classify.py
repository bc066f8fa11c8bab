"""Identify a model file's container format from its bytes, never its name."""

from __future__ import annotations

import enum
import io
import json
import pickletools
import struct

from vallum.scan import protobuf as pb

#: Opcodes a protocol 0/1 pickle plausibly starts with.
_P0_START = frozenset(b"(}])NIJKLMFSVUTXcigh")
_OPCODES = frozenset(op.code.encode("latin-1")[0] for op in pickletools.opcodes)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: The footer of a TensorFlow checkpoint index (a LevelDB-format table).
TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
MAX_JSON = 64 << 20
_EOCD = struct.Struct("<4s4H2IH")
_ZIP64_LOCATOR = b"PK\x06\x07"

#: Field numbers of the protobuf messages recognised by content.
_ONNX_MODEL = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26})
_ONNX_GRAPH = frozenset({1, 2, 5, 10, 11, 12, 13, 14, 15, 16})
_SAVED_MODEL = frozenset({1, 2})
_META_GRAPH = frozenset({1, 2, 3, 4, 5, 6, 7})
_GRAPH_DEF = frozenset({1, 2, 3, 4})
_NODE_DEF = frozenset({1, 2, 3, 4, 5, 6, 7})
_SAVED_OBJECT = frozenset({2, 3, 4, 5, 6})
_FINGERPRINT = frozenset({1, 2, 3, 4, 5, 6})
_SENTENCEPIECE = frozenset({1, 2, 3, 4, 5})


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
    LZMA = "lzma"
    ZLIB = "zlib"
    JOBLIB_ZFILE = "joblib-zfile"
    LZ4 = "lz4"
    SEVENZIP = "7z"
    TAR = "tar"
    ONNX = "onnx"
    TF_SAVEDMODEL = "tf-savedmodel"
    TF_GRAPHDEF = "tf-graphdef"
    KERAS_METADATA = "keras-metadata-pb"
    TF_FINGERPRINT = "tf-fingerprint"
    TF_CHECKPOINT_INDEX = "tf-checkpoint-index"
    JSON = "json"
    SENTENCEPIECE = "sentencepiece"
    UNKNOWN = "unknown"


#: Kinds recognised by an unambiguous signature (used for polyglot detection).
STRONG = frozenset(
    {
        Kind.ZIP, Kind.NPY, Kind.SAFETENSORS, Kind.GGUF, Kind.HDF5, Kind.GZIP, Kind.BZ2,
        Kind.XZ, Kind.LZ4, Kind.SEVENZIP, Kind.TAR, Kind.JOBLIB_ZFILE,
    }
)  # fmt: skip

_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"PK\x03\x04", Kind.ZIP),
    (b"PK\x05\x06", Kind.ZIP),
    (b"\x93NUMPY", Kind.NPY),
    (b"GGUF", Kind.GGUF),
    (HDF5_MAGIC, Kind.HDF5),
    (b"\xfd7zXZ\x00", Kind.XZ),
    (b"7z\xbc\xaf\x27\x1c", Kind.SEVENZIP),
    (b"\x04\x22\x4d\x18", Kind.LZ4),
    (b"ZF0x", Kind.JOBLIB_ZFILE),
)


def classify(data: bytes | bytearray | memoryview) -> Kind:
    """The format of ``data`` (the whole content, or at least its first 4 KiB)."""
    head = bytes(data[:4096])
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return Kind.PICKLE
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:3] == b"\x1f\x8b\x08":
        return Kind.GZIP
    if (
        len(head) >= 10
        and head[:3] == b"BZh"
        and head[3] in b"123456789"
        and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")
    ):
        return Kind.BZ2
    if _is_tar(head):
        return Kind.TAR
    if _is_safetensors(head):
        return Kind.SAFETENSORS
    if hdf5_offset(data) is not None:
        return Kind.HDF5
    if _is_lzma_alone(head):
        return Kind.LZMA
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return Kind.ZLIB
    if _plausible_protocol0(head):
        return Kind.PICKLE
    if head.lstrip()[:1] in (b"{", b"[") and len(data) <= MAX_JSON and _is_json(data):
        return Kind.JSON
    if len(data) >= 48 and bytes(data[-8:]) == TABLE_MAGIC:
        return Kind.TF_CHECKPOINT_INDEX
    if _decodes_as_pickle(head):
        return Kind.PICKLE
    return _classify_protobuf(data)


def hdf5_offset(data: bytes | bytearray | memoryview) -> int | None:
    """Where the HDF5 superblock is: offset 0 or after a user block of 512 * 2^n bytes."""
    offset = 0
    while offset + 8 <= len(data):
        if bytes(data[offset : offset + 8]) == HDF5_MAGIC:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def zip_eocd(data: bytes | bytearray | memoryview) -> int | None:
    """Offset of a zip end-of-central-directory record whose central directory is there.

    Python's zipfile (and tools built on it) find a zip through this record at the end
    of a file, whatever comes before it: a pickle with a zip appended is both.
    """
    tail_start = max(0, len(data) - (1 << 16) - _EOCD.size)
    tail = bytes(data[tail_start:])
    pos = tail.rfind(b"PK\x05\x06")
    while pos != -1:
        if pos + _EOCD.size <= len(tail):
            _sig, _disk, _cd_disk, _n_here, entries, cd_size, _cd_off, _clen = _EOCD.unpack_from(
                tail, pos
            )
            at = tail_start + pos
            if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
                if at >= 20 and bytes(data[at - 20 : at - 16]) == _ZIP64_LOCATOR:
                    return at
            elif (
                entries
                and cd_size <= at
                and bytes(data[at - cd_size : at - cd_size + 4]) == b"PK\x01\x02"
            ):
                return at
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    return None


def _is_json(data: bytes | bytearray | memoryview) -> bool:
    try:
        json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def _is_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    # v7 tar: no magic, but a valid octal header checksum and a plausible name
    field = head[148:156].split(b"\x00", 1)[0].strip(b" ")
    if not field or any(c not in b"01234567" for c in field) or not head[0] or head[0] < 0x20:
        return False
    block = head[:148] + b" " * 8 + head[156:512]
    return int(field, 8) == sum(block)


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size < 100_000_000 and head[8:9] == b"{"


def _is_lzma_alone(head: bytes) -> bool:
    """The legacy .lzma header joblib writes: properties 0x5d, dictionary size, length."""
    if len(head) < 13 or head[0] != 0x5D:
        return False
    dict_size = int.from_bytes(head[1:5], "little")
    length = int.from_bytes(head[5:13], "little")
    if dict_size < 4096 or dict_size > 1 << 30 or (length != (1 << 64) - 1 and length >= 1 << 48):
        return False
    return dict_size & (dict_size - 1) == 0 or (dict_size // 3) & (dict_size // 3 - 1) == 0


def _plausible_protocol0(head: bytes) -> bool:
    """A protocol 0/1 pickle: a pickle opcode first and a STOP somewhere."""
    if not head or head[0] not in _P0_START or b"." not in head:
        return False
    if head[0] in b"cig":  # GLOBAL / INST / GET take a newline-terminated argument
        line = head[1:].split(b"\n", 1)[0]
        return b"\n" in head and line.replace(b".", b"").replace(b"_", b"").isalnum()
    return True


def _decodes_as_pickle(head: bytes) -> bool:
    """A pickle without a PROTO header (the VM accepts any protocol's opcodes anyway).

    The opcodes are only decoded (pickletools executes nothing): the head must reach a
    STOP, or decode 16 opcodes before it runs out.
    """
    if not head or head[0] not in _OPCODES:
        return False
    count = 0
    try:
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if opcode.name == "STOP":
                return count > 1
            if count >= 16:
                return True
    except (ValueError, IndexError, KeyError, EOFError, OverflowError, UnicodeError, struct.error):
        return count >= 16
    return False


def _classify_protobuf(data: bytes | bytearray | memoryview) -> Kind:
    """ONNX, SavedModel, GraphDef, Keras metadata or a SavedModel fingerprint, by shape."""
    if not data or data[0] & 7 not in (pb.VARINT, pb.LEN):
        return Kind.UNKNOWN
    try:
        top = pb.fields(data)
        numbers = set(top)
        if numbers <= _ONNX_MODEL and 7 in numbers:
            graphs = pb.messages(top, 7)
            if all(pb.is_message(g, _ONNX_GRAPH) for g in graphs):
                return Kind.ONNX
        if numbers <= _SENTENCEPIECE and 1 in numbers and all(_is_piece(f) for f in top[1]):
            return Kind.SENTENCEPIECE
        if (
            numbers <= _SAVED_MODEL
            and 2 in numbers
            and all(pb.is_message(m, _META_GRAPH) for m in pb.messages(top, 2))
        ):
            return Kind.TF_SAVEDMODEL
        if numbers <= _GRAPH_DEF and 1 in numbers:
            nodes = [f for f in top[1] if f.wire_type == pb.LEN]
            if len(nodes) == len(top[1]) and all(
                pb.is_message(n.payload, _NODE_DEF) for n in nodes
            ):
                if all(_has_string(n.payload, 2) for n in nodes):
                    return Kind.TF_GRAPHDEF
                if numbers == {1} and all(pb.is_message(n.payload, _SAVED_OBJECT) for n in nodes):
                    return Kind.KERAS_METADATA
        if (
            len(numbers) >= 4
            and numbers <= _FINGERPRINT
            and all(
                f.wire_type == (pb.LEN if f.number == 6 else pb.VARINT)
                for fs in top.values()
                for f in fs
            )
        ):
            return Kind.TF_FINGERPRINT
    except pb.ProtobufError:
        return Kind.UNKNOWN
    return Kind.UNKNOWN


def _is_piece(field: pb.Field) -> bool:
    """A SentencePiece entry: piece (string), score (float), type (enum)."""
    if field.wire_type != pb.LEN:
        return False
    wire = {1: pb.LEN, 2: pb.FIXED32, 3: pb.VARINT}
    pieces = list(pb.iter_fields(field.payload))
    return bool(pieces) and all(wire.get(f.number) == f.wire_type for f in pieces)


def _has_string(msg: memoryview, number: int) -> bool:
    return any(f.number == number and f.wire_type == pb.LEN for f in pb.iter_fields(msg))
