"""Where a model's signature lies, and checking it with ``vallum.signing``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vallum.errors import IntegrityError
from vallum.signing import default_signature, verify_model

DIR_SIGNATURE = "model.sig"

__all__ = ["DIR_SIGNATURE", "SignatureCheck", "check_signature", "default_signature", "inside"]


def inside(model: Path, path: Path) -> bool:
    """Whether ``path`` lies inside the folder ``model`` (so it is not part of the model)."""
    return model.is_dir() and path.resolve().is_relative_to(model.resolve())


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """A signature that verified: how it was made and by whose key."""

    method: str
    key_fingerprint: str
    manifest_digest: str


def check_signature(
    model: Path,
    signature: Path,
    *,
    public_key: Path | None = None,
    certificate_chain: Sequence[Path] = (),
) -> SignatureCheck:
    """Verify ``signature`` over ``model``; IntegrityError names what does not match."""
    result = verify_model(
        model, signature=signature, public_key=public_key, certificate_chain=certificate_chain
    )
    if not result.key_fingerprint:
        raise IntegrityError(f"the signature of {model.name} names no key")
    return SignatureCheck(result.method, result.key_fingerprint, result.manifest.digest)
