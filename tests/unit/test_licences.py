"""Every runtime dependency's licence allows use in Vallum's Apache-2.0 core.

Permissive licences, and LGPL for libraries used unmodified through import
(psycopg); never GPL, AGPL, SSPL or source-available licences such as BSL.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = re.compile(
    r"\b(MIT|BSD|Apache|PSF|Python Software Foundation|ISC|MPL|Unlicense|LGPL)", re.I
)
FORBIDDEN = re.compile(r"(\bAGPL|(?<!L)GPL|\bBSL\b|Business Source|SSPL|Commons Clause)", re.I)


def _requirements() -> list[str]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [re.split(r"[<>=\[; ]", dep, maxsplit=1)[0] for dep in doc["project"]["dependencies"]]


def _licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    parts = [meta.get("License-Expression") or "", meta.get("License") or ""]
    parts += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return " ".join(p for p in parts if p)


@pytest.mark.parametrize("name", _requirements())
def test_dependency_licence_is_permissive(name: str) -> None:
    text = _licence(metadata.distribution(name))
    assert text, f"{name} declares no licence"
    assert not FORBIDDEN.search(text), f"{name}: {text}"
    assert ALLOWED.search(text), f"{name}: {text}"
