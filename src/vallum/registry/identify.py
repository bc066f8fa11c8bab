"""Which registered version is this file or folder, exactly or by the tensors it shares?

Three levels of evidence, strongest first:

1. ``exact``: the manifest digest equals a version's (the same files, byte for byte);
2. ``file``: a single file equals one file of a registered version;
3. ``tensors``: the model shares distinctive tensors with a version. ``shared`` is
   the fraction of this model's distinctive tensors found in the version, ``covers``
   the fraction of the version's tensors found here: a re-packaged copy has both at
   1.0, a fine-tune that changed some layers has both below 1.0.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from vallum.errors import UsageError
from vallum.registry.digests import manifest_of
from vallum.registry.tensors import Fingerprints, fingerprint
from vallum.registry.versions import VersionInfo, versions_by_id
from vallum.store.models_registry import ModelFile, ModelTensor, ModelVersion

if TYPE_CHECKING:
    from vallum.context import Context

_BATCH = 500


@dataclass(frozen=True, slots=True)
class Match:
    """One registered version related to the model being identified."""

    version: VersionInfo
    kind: str
    """``exact``, ``file`` or ``tensors``."""
    shared: float
    covers: float
    shared_tensors: int
    shared_bytes: int
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.version.ref),
            "kind": self.kind,
            "shared": round(self.shared, 4),
            "covers": round(self.covers, 4),
            "shared_tensors": self.shared_tensors,
            "shared_bytes": self.shared_bytes,
            "file": self.file,
        }


@dataclass(frozen=True, slots=True)
class Identification:
    """What a model is: its digest, its tensors and the registered versions it matches."""

    path: str
    manifest_digest: str
    files: int
    tensors: int
    trivial: int
    matches: tuple[Match, ...]
    notes: tuple[str, ...]

    @property
    def exact(self) -> Match | None:
        return next((m for m in self.matches if m.kind == "exact"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "manifest_digest": self.manifest_digest,
            "files": self.files,
            "tensors": self.tensors,
            "trivial_tensors": self.trivial,
            "exact": None if self.exact is None else str(self.exact.version.ref),
            "matches": [m.to_dict() for m in self.matches],
            "notes": list(self.notes),
        }


def identify(ctx: Context, path: Path, *, limit: int = 10) -> Identification:
    """Compare ``path`` with every registered version; records ``models.fingerprinted``."""
    if path.is_symlink() or not path.exists():
        raise UsageError(f"{path} is not a file or directory")
    manifest = manifest_of(path)
    root = path if path.is_dir() else path.parent
    prints = fingerprint(root, manifest.files)
    with ctx.engine.connect() as conn:
        exact_ids = set(
            conn.execute(
                select(ModelVersion.id).where(ModelVersion.manifest_digest == manifest.digest)
            ).scalars()
        )
        file_hits: dict[int, str] = {}
        if len(manifest.files) == 1:
            (digest,) = manifest.files.values()
            for vid, rel in conn.execute(
                select(ModelFile.version_id, ModelFile.path).where(ModelFile.sha256 == digest)
            ):
                file_hits.setdefault(vid, rel)
        shared, sizes = _shared_tensors(conn, prints)
        totals = _tensor_totals(conn, set(shared))
        infos = versions_by_id(conn, exact_ids | set(file_hits) | set(shared))
    mine = len(prints.digests)
    matches = []
    for vid, info in infos.items():
        common = shared.get(vid, set())
        common_bytes = sum(sizes[d] for d in common)
        frac = len(common) / mine if mine else 0.0
        covers = len(common) / totals[vid] if totals.get(vid) else 0.0
        if vid in exact_ids:
            matches.append(Match(info, "exact", 1.0, 1.0, len(common), common_bytes))
        elif vid in file_hits:
            matches.append(
                Match(info, "file", frac, covers, len(common), common_bytes, file_hits[vid])
            )
        else:
            matches.append(Match(info, "tensors", frac, covers, len(common), common_bytes))
    rank = {"exact": 0, "file": 1, "tensors": 2}
    matches.sort(key=lambda m: (rank[m.kind], -m.shared, -m.covers, str(m.version.ref)))
    result = Identification(
        path.name,
        manifest.digest,
        len(manifest.files),
        mine,
        prints.trivial,
        tuple(matches[:limit]),
        prints.notes,
    )
    best = result.matches[0] if result.matches else None
    ctx.record(
        "models.fingerprinted",
        best.version.ref.subject if best is not None else f"file:{path.name}",
        data={
            "manifest_digest": manifest.digest,
            "tensors": mine,
            "match": None if best is None else best.kind,
            "shared": None if best is None else round(best.shared, 4),
            "candidates": len(matches),
        },
    )
    return result


def _shared_tensors(conn: Any, prints: Fingerprints) -> tuple[dict[int, set[str]], dict[str, int]]:
    """version id -> the digests of ``prints`` it also holds; digest -> size."""
    sizes = {t.digest: t.size for t in prints.tensors}
    digests = sorted(sizes)
    shared: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(digests), _BATCH):
        batch = digests[start : start + _BATCH]
        rows = conn.execute(
            select(ModelTensor.version_id, ModelTensor.digest)
            .where(ModelTensor.digest.in_(batch))
            .distinct()
        )
        for vid, digest in rows:
            shared[vid].add(digest)
    return dict(shared), sizes


def _tensor_totals(conn: Any, ids: set[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = conn.execute(
        select(ModelTensor.version_id, func.count(func.distinct(ModelTensor.digest)))
        .where(ModelTensor.version_id.in_(sorted(ids)))
        .group_by(ModelTensor.version_id)
    )
    return {vid: int(n) for vid, n in rows}
