"""Decrypt a registered version to a folder and prove it is byte-for-byte what was registered."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from vallum.errors import IntegrityError, UsageError
from vallum.registry.digests import manifest_of
from vallum.registry.signatures import DIR_SIGNATURE
from vallum.registry.versions import Ref, StoredFile, VersionInfo, files_of, get_version

if TYPE_CHECKING:
    from vallum.context import Context
    from vallum.store.blobs import BlobStore


@dataclass(frozen=True, slots=True)
class Exported:
    """Where the model went: the model path (a folder, or the single file) and its signature."""

    info: VersionInfo
    model: Path
    signature: Path | None
    files: int


def safe_relative(rel: str) -> PurePosixPath:
    """A stored path that stays inside the export folder (refuses ``..``, absolute, empty)."""
    pure = PurePosixPath(rel)
    if (
        not rel
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in rel.split("/"))
        or "\\" in rel
        or "\0" in rel
    ):
        raise IntegrityError(f"the registry holds an unsafe file path {rel!r}")
    return pure


def _prepare(dest: Path) -> bool:
    """Make ``dest`` an empty folder; True when it was created here."""
    if dest.is_symlink():
        raise UsageError(f"{dest} is a symbolic link; give a real, empty folder")
    if dest.exists():
        if not dest.is_dir():
            raise UsageError(f"{dest} exists and is not a folder")
        if any(dest.iterdir()):
            raise UsageError(f"{dest} is not empty", hint="export into a new or empty folder")
        return False
    dest.mkdir(parents=True)
    return True


def write_blob(blobs: BlobStore, address: str, target: Path) -> None:
    """Decrypt a blob to ``target`` via a temporary file; nothing is left if it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with tmp.open("xb") as out:
            for chunk in blobs.iter_chunks(address):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def materialise(ctx: Context, info: VersionInfo, files: tuple[StoredFile, ...], dest: Path) -> Path:
    """Write the model's files under ``dest`` and check them; returns the model path."""
    for f in files:
        write_blob(ctx.blobs, f.blob, dest.joinpath(*safe_relative(f.path).parts))
    model = dest if info.layout == "dir" else dest / safe_relative(files[0].path).name
    if info.layout == "file" and len(files) != 1:
        raise IntegrityError(f"{info.ref} is a single-file model with {len(files)} files")
    manifest = manifest_of(model)
    recorded = {f.path: f.sha256 for f in files}
    if dict(manifest.files) != recorded or manifest.digest != info.manifest_digest:
        changed = sorted(
            set(recorded.items()).symmetric_difference(manifest.files.items()),
        )
        name = changed[0][0] if changed else "the manifest"
        raise IntegrityError(f"the export of {info.ref} does not match its manifest at {name}")
    return model


def export(ctx: Context, ref: Ref, dest: Path) -> Exported:
    """Decrypt NAME@V into the empty folder ``dest`` (created if missing), re-verified."""
    info = get_version(ctx.engine, ref)
    with ctx.engine.connect() as conn:
        files = files_of(conn, info.id)
    if not files:
        raise IntegrityError(f"{ref} has no stored files")
    created = _prepare(dest)
    try:
        model = materialise(ctx, info, files, dest)
        signature = None
        if info.signature_blob is not None:
            signature = dest / DIR_SIGNATURE if info.layout == "dir" else Path(f"{model}.sig")
            write_blob(ctx.blobs, info.signature_blob, signature)
    except BaseException:
        _empty(dest, remove=created)
        ctx.record(
            "models.exported",
            ref.subject,
            outcome="failure",
            data={"manifest_digest": info.manifest_digest},
        )
        raise
    ctx.record(
        "models.exported",
        ref.subject,
        data={"manifest_digest": info.manifest_digest, "files": len(files)},
    )
    return Exported(info, model, signature, len(files))


def _empty(dest: Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
