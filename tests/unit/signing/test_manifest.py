"""hash_model: per-file SHA-256 equal to hashlib's, parallel = serial, what is left out,
what is refused, and what the manifest digest covers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vallum.errors import UsageError
from vallum.signing import ModelManifest, hash_model
from vallum.signing.manifest import Piece, manifest_digest, sha256_piece


def _expected(model: Path) -> dict[str, str]:
    return {
        p.relative_to(model).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(model.rglob("*"))
        if p.is_file()
    }


def test_every_file_is_hashed_with_sha256(model: Path) -> None:
    manifest = hash_model(model)
    assert dict(manifest.files) == _expected(model)
    assert list(manifest.files) == sorted(manifest.files)
    assert manifest.files["empty.txt"] == hashlib.sha256(b"").hexdigest()


def test_parallel_and_serial_agree(model: Path) -> None:
    assert hash_model(model, workers=1) == hash_model(model, workers=4)


def test_file_larger_than_the_read_buffer(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    data = os.urandom((1 << 20) * 3 + 17)
    big.write_bytes(data)
    manifest = hash_model(big)
    assert manifest.files == {"big.bin": hashlib.sha256(data).hexdigest()}


def test_byte_ranges(tmp_path: Path) -> None:
    f = tmp_path / "f"
    data = os.urandom(3 << 20)
    f.write_bytes(data)
    start, length = (1 << 20) - 5, (1 << 20) + 11
    got = sha256_piece(Piece("f", f, start, length))
    assert got == hashlib.sha256(data[start : start + length]).hexdigest()


def test_digest_is_sha256sum_of_the_listing(model: Path) -> None:
    manifest = hash_model(model)
    listing = "".join(f"{d}  {p}\n" for p, d in sorted(_expected(model).items()))
    assert manifest.digest == hashlib.sha256(listing.encode()).hexdigest()
    assert manifest.digest == manifest_digest(manifest.files)


def test_digest_changes_with_content_and_with_a_rename(model: Path) -> None:
    before = hash_model(model).digest
    (model / "config.json").rename(model / "config2.json")
    renamed = hash_model(model).digest
    assert renamed != before
    (model / "config2.json").rename(model / "config.json")
    assert hash_model(model).digest == before
    (model / "config.json").write_text('{"layers": 3}\n', encoding="utf-8")
    assert hash_model(model).digest != before


def test_signature_and_git_files_are_left_out(model: Path) -> None:
    before = hash_model(model)
    (model / "model.sig").write_text("{}", encoding="utf-8")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref", encoding="utf-8")
    (model / ".gitattributes").write_text("*.bin lfs", encoding="utf-8")
    assert hash_model(model) == before
    (model / "notes.md").write_text("x", encoding="utf-8")
    assert "notes.md" in hash_model(model).files
    assert hash_model(model, ignore=[Path("notes.md")]) == before
    assert hash_model(model, ignore=[model / "notes.md"]) == before


def test_ignoring_a_directory_leaves_out_its_files(model: Path) -> None:
    files = hash_model(model, ignore=[Path("weights")]).files
    assert not any(name.startswith("weights/") for name in files)
    assert "config.json" in files


def test_single_file_model(model: Path) -> None:
    manifest = hash_model(model / "config.json")
    assert dict(manifest.files) == {
        "config.json": hashlib.sha256((model / "config.json").read_bytes()).hexdigest()
    }


def test_symlink_to_a_file_is_refused(model: Path) -> None:
    (model / "link.bin").symlink_to(model / "weights" / "part-1.bin")
    with pytest.raises(UsageError, match=r"symbolic link 'link\.bin'"):
        hash_model(model)


def test_symlinked_directory_is_refused_not_followed(model: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s", encoding="utf-8")
    (model / "weights" / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UsageError, match="symbolic link 'weights/more'"):
        hash_model(model)


def test_model_that_is_a_symlink_is_refused(model: Path, tmp_path: Path) -> None:
    link = tmp_path / "alias"
    link.symlink_to(model, target_is_directory=True)
    with pytest.raises(UsageError, match="symbolic link"):
        hash_model(link)


def test_fifo_is_refused(model: Path) -> None:
    os.mkfifo(model / "pipe")
    with pytest.raises(UsageError, match="special file 'pipe'"):
        hash_model(model)


def test_missing_model_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        hash_model(tmp_path / "nope")


def test_manifest_is_frozen_and_read_only(model: Path) -> None:
    manifest = hash_model(model)
    with pytest.raises(AttributeError):
        manifest.digest = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        manifest.files["config.json"] = "x"  # type: ignore[index]
    assert ModelManifest.of(dict(manifest.files)) == manifest
    assert manifest.to_dict()["digest"] == manifest.digest
