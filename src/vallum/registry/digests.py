"""The manifest of a model: every file's SHA-256 and one digest for the whole model.

The registry identifies an exact model by the same manifest ``vallum sign``
computes (``vallum.signing.hash_model``: ``sha256sum``-style lines, ``model.sig``
and git files left out), so a registered digest can be reproduced with coreutils.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vallum.signing import ModelManifest, hash_model

Manifest = ModelManifest


def manifest_of(model: Path, *, ignore: Sequence[Path] = ()) -> ModelManifest:
    """Hash every file under ``model`` (a file or a folder); links are refused (UsageError)."""
    return hash_model(model, ignore=ignore)
