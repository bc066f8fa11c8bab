"""Signed checkpoints: the instance's Ed25519 signature over a Merkle root.

The signed message is ``b"vallum-checkpoint/v1\\n"`` followed by the RFC 8785
JSON of ``{interval, origin, root_hash, time, tree_size}``, where ``interval`` is
the writer's checkpoint interval (so a verifier knows the largest gap that is
legitimate, even after the setting changed). Anyone with the public key can
check a checkpoint; nothing else is needed (see ``vallum.ledger.proofs``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vallum.ledger.canonical import canonical_json

DOMAIN = b"vallum-checkpoint/v1\n"


def key_id_of(public_key: bytes) -> str:
    """A short, stable id for an Ed25519 public key (raw 32 bytes)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: str
    time: str
    interval: int
    key_id: str
    signature: str

    def message(self) -> bytes:
        return signed_message(self.origin, self.tree_size, self.root_hash, self.time, self.interval)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "time": self.time,
            "interval": self.interval,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, raw: object) -> Checkpoint:
        """Parse ``to_dict`` output; ValueError on anything malformed."""
        if not isinstance(raw, dict):
            raise ValueError("a checkpoint must be a JSON object")
        try:
            return cls(
                origin=str(raw["origin"]),
                tree_size=int(raw["tree_size"]),
                root_hash=str(raw["root_hash"]),
                time=str(raw["time"]),
                interval=int(raw["interval"]),
                key_id=str(raw["key_id"]),
                signature=str(raw["signature"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed checkpoint ({exc})") from None

    def verify(self, public_key: bytes) -> bool:
        """True only if the signature is the given key's over this checkpoint."""
        try:
            sig = base64.b64decode(self.signature, validate=True)
            Ed25519PublicKey.from_public_bytes(public_key).verify(sig, self.message())
        except (InvalidSignature, ValueError, binascii.Error, TypeError):
            return False
        return self.key_id == key_id_of(public_key)


def signed_message(origin: str, tree_size: int, root_hash: str, time: str, interval: int) -> bytes:
    body = {
        "interval": interval,
        "origin": origin,
        "root_hash": root_hash,
        "time": time,
        "tree_size": tree_size,
    }
    return DOMAIN + canonical_json(body).encode("utf-8")


class CheckpointSigner:
    """Signs checkpoints with the instance key."""

    def __init__(self, origin: str, private_key: Ed25519PrivateKey) -> None:
        self.origin = origin
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes_raw()
        self.key_id = key_id_of(self.public_key)

    def sign(self, tree_size: int, root_hash: str, time: str, interval: int) -> Checkpoint:
        sig = self._key.sign(signed_message(self.origin, tree_size, root_hash, time, interval))
        return Checkpoint(
            origin=self.origin,
            tree_size=tree_size,
            root_hash=root_hash,
            time=time,
            interval=interval,
            key_id=self.key_id,
            signature=base64.b64encode(sig).decode("ascii"),
        )
