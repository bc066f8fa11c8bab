"""Hash a model (a file or a directory) into a manifest: one SHA-256 per file.

The walk never follows a symbolic link and refuses links and special files
(FIFOs, sockets, devices): a model is regular files in directories. Files are
hashed in parallel by a thread pool; ``hashlib`` is OpenSSL's SHA-256 and releases
the GIL while it hashes a large buffer, so the pool uses every core. Each file is
read with ``readinto`` into one reused 1 MiB buffer per task (no mmap: a file
truncated while mapped would kill the process with SIGBUS). The largest files are
started first, so the cores finish together.

The manifest ``digest`` identifies the exact model: SHA-256 over the sorted lines
``<sha256>  <path>\\n``, the format of ``sha256sum``, so it can be reproduced with
coreutils. The paths are part of it: renaming a file changes the digest.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from vallum.errors import UsageError

DEFAULT_SIGNATURE_NAME = "model.sig"
# Ignored in every directory model, as model_signing's CLI does by default.
DEFAULT_IGNORES: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
READ_SIZE = 1 << 20


class RefusedPathError(Exception):
    """Internal: the model holds a path that may not be hashed (link, special file).

    Callers translate it: UsageError when hashing or signing, ModelMismatchError
    when verifying."""

    def __init__(self, relative: str, why: str) -> None:
        super().__init__(f"{why} {relative!r} in the model")
        self.relative = relative
        self.why = why


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """Relative POSIX path -> SHA-256 hex of every file of a model, and one digest."""

    files: Mapping[str, str]
    digest: str = field(default="")

    @classmethod
    def of(cls, files: Mapping[str, str]) -> ModelManifest:
        ordered = dict(sorted(files.items()))
        return cls(MappingProxyType(ordered), manifest_digest(ordered))

    def to_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "files": dict(self.files)}


def manifest_digest(files: Mapping[str, str]) -> str:
    """SHA-256 of ``sha256sum``-style lines, sorted by path."""
    text = "".join(f"{files[p]}  {p}\n" for p in sorted(files))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Piece:
    """A byte range of one file to hash: the whole file when ``length`` is None."""

    name: str
    path: Path
    start: int = 0
    length: int | None = None


def sha256_piece(piece: Piece) -> str:
    """SHA-256 of a file or a byte range of it, read 1 MiB at a time."""
    h = hashlib.sha256()
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    with open(piece.path, "rb", buffering=0) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise RefusedPathError(piece.name, "non-regular file")
        if piece.start:
            f.seek(piece.start)
        left = piece.length
        while left is None or left > 0:
            want = READ_SIZE if left is None else min(READ_SIZE, left)
            n = f.readinto(view[:want])
            if not n:
                break
            h.update(view[:n])
            if left is not None:
                left -= n
    return h.hexdigest()


def hash_pieces(
    pieces: Sequence[Piece], sizes: Mapping[str, int], workers: int | None = None
) -> dict[str, str]:
    """Hash pieces in parallel, largest first; piece name -> hex."""
    order = sorted(pieces, key=lambda p: p.length if p.length is not None else sizes[p.name])
    order.reverse()
    if len(order) <= 1:
        return {p.name: sha256_piece(p) for p in order}
    n = min(workers or os.cpu_count() or 1, len(order))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="vallum-hash") as pool:
        digests = list(pool.map(sha256_piece, order))
    return {p.name: d for p, d in zip(order, digests, strict=True)}


def _is_ignored(relative: PurePosixPath, ignored: frozenset[PurePosixPath]) -> bool:
    return any(relative == i or relative.is_relative_to(i) for i in ignored)


def list_files(
    model: Path, ignore: Iterable[str | Path] = (), *, on_refused: Callable[[str, str], None]
) -> dict[str, tuple[Path, int]]:
    """Relative POSIX path -> (path, size) of every regular file; ``on_refused`` is
    called for a link or special file (it should raise)."""
    try:
        top = os.lstat(model)
    except FileNotFoundError:
        raise UsageError(f"no such file or directory: {model}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {model}: {exc.strerror}") from None
    if stat.S_ISLNK(top.st_mode):
        on_refused(model.name, "symbolic link")
    if stat.S_ISREG(top.st_mode):
        return {model.name: (model, top.st_size)}
    if not stat.S_ISDIR(top.st_mode):
        on_refused(model.name, "special file")
    ignored = frozenset(_relative_ignore(model, i) for i in (*DEFAULT_IGNORES, *ignore))
    found: dict[str, tuple[Path, int]] = {}
    stack = [(model, PurePosixPath())]
    while stack:
        directory, rel_dir = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise UsageError(f"cannot list {directory}: {exc.strerror}") from None
        for entry in entries:
            rel = rel_dir / entry.name
            if _is_ignored(rel, ignored):
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                on_refused(str(rel), "symbolic link")
            elif stat.S_ISDIR(st.st_mode):
                stack.append((Path(entry.path), rel))
            elif stat.S_ISREG(st.st_mode):
                found[str(rel)] = (Path(entry.path), st.st_size)
            else:
                on_refused(str(rel), "special file")
    return found


def _relative_ignore(model: Path, item: str | Path) -> PurePosixPath:
    p = Path(item)
    if p.is_absolute():
        try:
            p = p.relative_to(model.absolute())
        except ValueError:
            return PurePosixPath("/nonexistent-outside-model")
    return PurePosixPath(p.as_posix())


def _raise_refused(relative: str, why: str) -> None:
    raise RefusedPathError(relative, why)


def hash_model(
    model: Path, *, ignore: Sequence[Path] = (), workers: int | None = None
) -> ModelManifest:
    """Parallel SHA-256 of every file under ``model`` (a file or a directory).

    ``ignore`` holds paths relative to the model directory (or absolute paths inside
    it) to leave out; ``model.sig`` at the top and the git files (``.git``,
    ``.gitattributes``, ``.github``, ``.gitignore``) are always left out, so a
    model's digest is the same before and after it is signed. Raises UsageError for
    a symbolic link or special file, or a path that does not exist.
    """
    extra: list[str | Path] = [DEFAULT_SIGNATURE_NAME, *ignore]
    try:
        listing = list_files(model, extra, on_refused=_raise_refused)
    except RefusedPathError as exc:
        raise UsageError(
            f"refusing to hash {exc.why} {exc.relative!r}: a model is regular files only"
        ) from None
    pieces = [Piece(name, path) for name, (path, _) in listing.items()]
    sizes = {name: size for name, (_, size) in listing.items()}
    try:
        return ModelManifest.of(hash_pieces(pieces, sizes, workers))
    except RefusedPathError as exc:
        raise UsageError(f"refusing to hash {exc.why} {exc.relative!r}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the model: {exc.strerror}") from None
