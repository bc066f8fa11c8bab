"""Master key providers: where the key that wraps every data key lives.

``LocalFileKeyProvider`` (default) keeps master keys in a 0600 JSON file in the
data directory; ``EnvKeyProvider`` takes one from ``VALLUM_MASTER_KEY``. A KMS or
Vault provider plugs in behind the same ``KeyProvider`` protocol.

Wrapping is AES-256-GCM with the data key's id as associated data, so a wrapped
key cannot be moved to another row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
import typing
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vallum.config import KeyProviderKind, VallumSettings
from vallum.errors import ConfigError, IntegrityError, UsageError
from vallum.store.files import atomic_write

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with a master key the provider holds."""

    def active_key_id(self) -> str: ...

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        """Wrap ``dek`` under the active master key; returns (master key id, wrapped)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes: ...

    def rotate(self) -> str:
        """Create a new active master key (old ones stay until retired); its id."""
        ...

    def key_ids(self) -> tuple[str, ...]:
        """Every master key id the provider can currently unwrap with."""
        ...

    def retire(self, key_ids: typing.Iterable[str]) -> None:
        """Forget master keys no data key is wrapped with any more."""
        ...


def _wrap(master: bytes, dek: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, dek, aad)


def _unwrap(master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError("a data key failed to unwrap: wrong master key or tampering") from exc


def _key_id(key: bytes) -> str:
    return "mk-" + hashlib.sha256(b"vallum-master-key-id" + key).hexdigest()[:16]


class LocalFileKeyProvider:
    """Master keys in a JSON file created 0600; refuses a file others can read.

    The file is re-read whenever it changed on disk (another process, such as
    ``vallum keys rotate`` beside a running server, may have rotated it), so a
    long-lived process never wraps data keys with a master key that was retired.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, bytes] = {}
        self._active = ""
        self._signature: tuple[int, int, int, int] | None = None
        self._load()

    @classmethod
    def create(cls, path: Path) -> LocalFileKeyProvider:
        """Create the key file with one fresh key; refuses to overwrite."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(KEY_BYTES)
        doc = {"version": 1, "active": _key_id(key), "keys": {_key_id(key): _b64(key)}}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigError(f"master key file {path} already exists") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return cls(path)

    def _stat(self) -> os.stat_result:
        try:
            return self.path.stat()
        except FileNotFoundError:
            raise ConfigError(
                f"master key file {self.path} is missing", hint="run `vallum init`"
            ) from None

    @staticmethod
    def _signature_of(st: os.stat_result) -> tuple[int, int, int, int]:
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        st = self._stat()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"master key file {self.path} is readable by others "
                f"(mode {stat.S_IMODE(st.st_mode):o})",
                hint=f"run `chmod 600 {self.path}`",
            )
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            keys = {str(k): _unb64(v) for k, v in doc["keys"].items()}
            active = str(doc["active"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"master key file {self.path} is unreadable or corrupt") from exc
        if active not in keys or any(len(k) != KEY_BYTES for k in keys.values()):
            raise ConfigError(f"master key file {self.path} is corrupt")
        self._keys, self._active = keys, active
        self._signature = self._signature_of(st)

    def _refresh(self) -> None:
        """Re-read the file if it changed since it was loaded (atomic replace = new inode)."""
        if self._signature_of(self._stat()) != self._signature:
            self._load()

    def _save(self) -> None:
        doc = {
            "version": 1,
            "active": self._active,
            "keys": {k: _b64(v) for k, v in self._keys.items()},
        }
        # Durable, including the directory entry: without that, power loss after a
        # rotation could bring back a key file without the new key while the
        # database already holds data keys wrapped by it.
        atomic_write(self.path, json.dumps(doc).encode("utf-8"))
        self._signature = self._signature_of(self._stat())

    def active_key_id(self) -> str:
        self._refresh()
        return self._active

    def key_ids(self) -> tuple[str, ...]:
        self._refresh()
        return tuple(self._keys)

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        self._refresh()
        return self._active, _wrap(self._keys[self._active], dek, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        self._refresh()
        master = self._keys.get(key_id)
        if master is None:
            raise IntegrityError(f"master key {key_id} is not in {self.path}")
        return _unwrap(master, wrapped, aad)

    def rotate(self) -> str:
        self._refresh()
        key = secrets.token_bytes(KEY_BYTES)
        self._keys[_key_id(key)] = key
        self._active = _key_id(key)
        self._save()
        return self._active

    def retire(self, key_ids: typing.Iterable[str]) -> None:
        self._refresh()
        for key_id in key_ids:
            if key_id != self._active:
                self._keys.pop(key_id, None)
        self._save()


class EnvKeyProvider:
    """One master key from settings (``VALLUM_MASTER_KEY``, base64 of 32 bytes)."""

    def __init__(self, encoded: str) -> None:
        try:
            key = _unb64(encoded)
        except ValueError:
            raise ConfigError("VALLUM_MASTER_KEY is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise ConfigError("VALLUM_MASTER_KEY must be 32 bytes, base64-encoded")
        self._key = key
        self._id = _key_id(key)

    def active_key_id(self) -> str:
        return self._id

    def key_ids(self) -> tuple[str, ...]:
        return (self._id,)

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        return self._id, _wrap(self._key, dek, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        if key_id != self._id:
            raise IntegrityError(f"data key wrapped by {key_id}, not by VALLUM_MASTER_KEY")
        return _unwrap(self._key, wrapped, aad)

    def rotate(self) -> str:
        raise UsageError(
            "the env key provider cannot rotate by itself",
            hint="switch to the local-file provider, or rotate in your secret manager",
        )

    def retire(self, key_ids: typing.Iterable[str]) -> None:
        return None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("bad base64") from exc


def provider_for(settings: VallumSettings) -> KeyProvider:
    """The key provider the settings choose."""
    kind = settings.key_provider
    match kind:
        case KeyProviderKind.LOCAL_FILE:
            return LocalFileKeyProvider(settings.key_file)
        case KeyProviderKind.ENV:
            if settings.master_key is None:
                raise ConfigError("key_provider is 'env' but VALLUM_MASTER_KEY is not set")
            return EnvKeyProvider(settings.master_key.get_secret_value())
        case KeyProviderKind.KMS:
            raise ConfigError(
                "the kms key provider is not available in this build",
                hint="use key_provider = 'local-file' or 'env'",
            )
        case _:
            typing.assert_never(kind)
