"""Route a buffer to the scanner for its format (by content), recursively."""

from __future__ import annotations

import re
from pathlib import Path

from vallum.scan.archive import pickle_input, scan_npy, scan_zip
from vallum.scan.classify import STRONG, TABLE_MAGIC, Kind, classify, hdf5_offset, zip_eocd
from vallum.scan.gguf import scan_gguf
from vallum.scan.job import Job, Limits
from vallum.scan.keras import scan_h5, scan_json
from vallum.scan.onnx import is_external_data, scan_onnx
from vallum.scan.pickle_vm import scan_pickle_stream
from vallum.scan.safetensors import scan_safetensors
from vallum.scan.savedmodel import scan_keras_metadata, scan_savedmodel
from vallum.scan.verdict import Report, Severity
from vallum.scan.wrappers import scan_compressed, scan_tar

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_COMPRESSED = frozenset(
    {Kind.GZIP, Kind.BZ2, Kind.XZ, Kind.LZMA, Kind.ZLIB, Kind.JOBLIB_ZFILE, Kind.LZ4, Kind.SEVENZIP}
)
_TRAILER_AT = re.compile(r"@(\d+)$")
_SHARD = re.compile(r"(.+)\.data-\d{5}-of-\d{5}")


def scan_buffer(
    data: memoryview,
    location: str,
    report: Report,
    *,
    path: Path | None = None,
    limits: Limits | None = None,
) -> str:
    """Scan one file's bytes into ``report``; returns the format name.

    ``path`` is the file on disk the bytes were mapped from, if any: external data
    is resolved beside it, and child readers may open it directly.
    """
    job = Job(
        report,
        dispatch,
        base_dir=path.parent if path is not None else None,
        path=path,
        path_size=len(data),
        limits=limits or Limits(),
    )
    return dispatch(job, data, location, 0)


def dispatch(job: Job, data: memoryview, location: str, depth: int) -> str:
    kind = classify(data)
    report = job.report
    if kind is not Kind.ZIP and zip_eocd(data) is not None:
        report.add(
            "polyglot.zip",
            Severity.HIGH,
            f"a {kind} file that is also a zip (end-of-central-directory at the end)",
            location,
        )
        scan_zip(job, data, f"{location}!zip", depth + 1)
    h5_at = hdf5_offset(data) if kind is not Kind.HDF5 else None
    if h5_at:
        report.add(
            "polyglot.hdf5-user-block",
            Severity.HIGH,
            f"a {kind} file whose HDF5 user block hides an HDF5 file at offset {h5_at}",
            location,
        )
        scan_h5(job, data, f"{location}!hdf5")
    if kind is Kind.PICKLE:
        return _scan_pickles(job, data, location, depth)
    if kind is Kind.ZIP:
        return scan_zip(job, data, location, depth)
    if kind is Kind.NPY:
        scan_npy(data, location, report)
        return str(kind)
    if kind is Kind.SAFETENSORS:
        return scan_safetensors(job, data, location)
    if kind is Kind.GGUF:
        return scan_gguf(job, data, location)
    if kind is Kind.HDF5:
        return scan_h5(job, data, location)
    if kind is Kind.ONNX:
        return scan_onnx(job, data, location)
    if kind is Kind.TF_SAVEDMODEL:
        return scan_savedmodel(job, data, location)
    if kind is Kind.TF_GRAPHDEF:
        return scan_savedmodel(job, data, location, graph_only=True)
    if kind is Kind.KERAS_METADATA:
        return scan_keras_metadata(job, data, location)
    if kind in (Kind.TF_FINGERPRINT, Kind.TF_CHECKPOINT_INDEX, Kind.SENTENCEPIECE):
        return str(kind)  # hashes, tensor names, shapes, offsets, vocabulary: data only
    if kind is Kind.UNKNOWN and depth == 0 and job.path is not None and is_external_data(job.path):
        report.add(
            "onnx.external-data-file",
            Severity.INFO,
            "raw tensor bytes an ONNX model beside it names as external data",
            location,
        )
        return "onnx-external-data"
    if kind is Kind.UNKNOWN and depth == 0 and _is_checkpoint_shard(job.path):
        report.add(
            "tf.checkpoint-shard",
            Severity.INFO,
            "raw tensor bytes of a TensorFlow checkpoint (read only through its index)",
            location,
        )
        return "tf-checkpoint-data"
    if kind is Kind.JSON:
        return scan_json(job, data, location)
    if kind is Kind.TAR:
        return scan_tar(job, data, location, depth)
    if kind in _COMPRESSED:
        return scan_compressed(job, kind, data, location, depth)
    report.incomplete("format.unknown", "not a model format the scanner recognises", location)
    return str(kind)


def _scan_pickles(job: Job, data: memoryview, location: str, depth: int) -> str:
    """Every pickle in the stream; a known format after the last STOP is a polyglot."""
    report = job.report
    fmt = "pytorch-legacy" if _is_torch_legacy(data) else "pickle"
    before = len(report.findings)
    scan_pickle_stream(pickle_input(data), location, report)
    for finding in report.findings[before:]:
        if finding.rule != "pickle.trailing-data" or not finding.location.startswith(location):
            continue
        match = _TRAILER_AT.search(finding.location)
        if match is None:
            continue
        offset = int(match.group(1))
        rest = data[offset:]
        kind = classify(rest)
        if kind in STRONG or kind in (Kind.ONNX, Kind.TF_SAVEDMODEL):
            report.add(
                "polyglot.trailing-format",
                Severity.HIGH,
                f"a {kind} payload follows the pickle's STOP",
                f"{location}@{offset}",
            )
            job.inner(rest, f"{location}@{offset}", depth + 1)
        break
    return fmt


def _is_checkpoint_shard(path: Path | None) -> bool:
    """``<prefix>.data-NNNNN-of-NNNNN`` beside a ``<prefix>.index`` that is a checkpoint index."""
    if path is None:
        return False
    match = _SHARD.fullmatch(path.name)
    if match is None:
        return False
    index = path.with_name(f"{match.group(1)}.index")
    try:
        with index.open("rb") as fh:
            if index.is_symlink() or fh.seek(0, 2) < 48:
                return False
            fh.seek(-8, 2)
            return fh.read(8) == TABLE_MAGIC
    except OSError:
        return False


def _is_torch_legacy(data: memoryview) -> bool:
    """Legacy torch.save: the first pickle is the magic number (protocol 2 LONG1)."""
    magic = TORCH_LEGACY_MAGIC.to_bytes(10, "little")
    return bytes(data[:4]) == b"\x80\x02\x8a\x0a" and bytes(data[4:14]) == magic
