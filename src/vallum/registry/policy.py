"""The gate policy: which keys and certificate chains a model's signature must verify against.

A YAML (``.yaml``/``.yml``) or TOML (``.toml``) file::

    trusted_keys:              # PEM public keys, relative to this file
      - keys/release.pub
    certificate_chains:        # each an ordered list of PEM certificates
      - [pki/intermediate.pem, pki/root.pem]

A policy that trusts nothing, names an unknown field, or names a file that does
not exist is an error: the gate never runs with a policy it cannot read.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vallum.errors import ConfigError

_FIELDS = {"trusted_keys", "certificate_chains"}


@dataclass(frozen=True, slots=True)
class GatePolicy:
    source: Path
    digest: str
    """SHA-256 of the policy file, recorded with each gate decision."""
    trusted_keys: tuple[Path, ...]
    certificate_chains: tuple[tuple[Path, ...], ...]


def load_policy(path: Path) -> GatePolicy:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the gate policy {path}: {exc.strerror}") from exc
    doc = _parse(path, raw)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"the gate policy {path} is not a mapping")
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise ConfigError(
            f"the gate policy {path} has unknown field(s): {', '.join(map(str, unknown))}",
            hint="allowed: trusted_keys, certificate_chains",
        )
    base = path.parent
    keys = tuple(_file(base, k, path) for k in _list(doc.get("trusted_keys"), "trusted_keys", path))
    chains = tuple(
        tuple(_file(base, c, path) for c in _list(chain, "a certificate chain", path))
        for chain in _list(doc.get("certificate_chains"), "certificate_chains", path)
    )
    if any(not chain for chain in chains):
        raise ConfigError(f"the gate policy {path} has an empty certificate chain")
    if not keys and not chains:
        raise ConfigError(
            f"the gate policy {path} trusts no key and no certificate chain",
            hint="list trusted_keys (PEM public keys) or certificate_chains; "
            "an empty policy would let nothing or anything through",
        )
    return GatePolicy(path, hashlib.sha256(raw).hexdigest(), keys, chains)


def _parse(path: Path, raw: bytes) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"the gate policy {path} cannot be parsed: {type(exc).__name__}") from exc
    raise ConfigError(
        f"the gate policy {path} must be a .yaml, .yml or .toml file", hint="rename it"
    )


def _list(value: Any, what: str, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"the gate policy {path}: {what} must be a list")
    return value


def _file(base: Path, value: Any, path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"the gate policy {path}: {value!r} is not a file name")
    target = base / Path(value).expanduser()
    if not target.is_file():
        raise ConfigError(f"the gate policy {path} names {value}, which does not exist")
    return target
