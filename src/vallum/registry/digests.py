"""The manifest of a model: every file's SHA-256 and one digest for the whole model.

The registry identifies an exact model by the same manifest ``vallum sign``
computes, so this module only adapts ``vallum.signing``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vallum.errors import UsageError

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Manifest:
    files: Mapping[str, str]
    """Relative posix path -> SHA-256 hex."""
    digest: str


def manifest_of(model: Path, *, ignore: Sequence[Path] = ()) -> Manifest:
    """Hash every file under ``model`` (a file or a folder); symlinks are refused."""
    skip = {p.resolve() for p in ignore}
    if model.is_symlink():
        raise UsageError(f"{model} is a symbolic link; give the real path")
    if model.is_file():
        files = {model.name: _sha256(model)}
    elif model.is_dir():
        files = {}
        for path in sorted(model.rglob("*")):
            if path.is_symlink():
                raise UsageError(f"{path} is a symbolic link; models may not contain links")
            if path.is_file() and path.resolve() not in skip:
                files[path.relative_to(model).as_posix()] = _sha256(path)
    else:
        raise UsageError(f"no such file or directory: {model}")
    lines = "".join(f"{name}\0{digest}\n" for name, digest in sorted(files.items()))
    return Manifest(files, hashlib.sha256(lines.encode()).hexdigest())


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()
