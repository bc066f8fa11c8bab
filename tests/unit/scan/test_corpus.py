"""Detection on the labelled corpus: every implemented format, benign and malicious."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.unit.scan.conftest import IMPLEMENTED
from vallum.scan import Verdict, scan_path
from vallum.scan.service import scan_bytes, scan_file

Corpus = tuple[Path, dict[str, dict[str, Any]]]


def test_every_implemented_file_is_judged_as_labelled(corpus: Corpus) -> None:
    files, labels = corpus
    wrong = []
    checked = 0
    for rel, label in sorted(labels.items()):
        if label["format"] not in IMPLEMENTED:
            continue
        checked += 1
        verdict = scan_file(files / rel).verdict
        if label["malicious"] and verdict is Verdict.SAFE:
            wrong.append(f"missed {rel}")
        if not label["malicious"] and verdict is not Verdict.SAFE:
            wrong.append(f"false positive {rel}: {verdict}")
    assert checked >= 25
    assert wrong == []


def test_malicious_implemented_files_are_unsafe_not_just_unscannable(corpus: Corpus) -> None:
    files, labels = corpus
    for rel, label in labels.items():
        if label["malicious"] and label["format"] in IMPLEMENTED:
            assert scan_file(files / rel).verdict is Verdict.UNSAFE, rel


def test_every_corpus_format_is_implemented(corpus: Corpus) -> None:
    _, labels = corpus
    assert {label["format"] for label in labels.values()} <= IMPLEMENTED


def test_directory_walk_is_sorted_and_complete(corpus: Corpus) -> None:
    files, labels = corpus
    results = scan_path(files)
    names = [str(Path(r.path).relative_to(files)) for r in results]
    assert names == sorted(names)
    assert set(names) == set(labels)


def test_critical_imports_are_named(corpus: Corpus) -> None:
    files, _ = corpus
    result = scan_file(files / "malicious" / "posix_system_p2.pkl")
    crit = [f for f in result.findings if f.severity == "critical"]
    assert crit
    assert crit[0].rule == "pickle.import.not-allowed"
    assert "posix.system" in crit[0].message


def test_crc_tamper_is_reported_as_a_zip_anomaly(corpus: Corpus) -> None:
    files, _ = corpus
    rules = {f.rule for f in scan_file(files / "malicious" / "crc_tamper.pt").findings}
    assert "zip.crc-mismatch" in rules
    assert "pickle.import.not-allowed" in rules


def test_damaged_corpus_files_never_crash_the_scanner(corpus: Corpus) -> None:
    """Truncated and byte-flipped copies come out as some verdict, never a scanner error."""
    files, labels = corpus
    rnd = random.Random(4)  # noqa: S311 - reproducible damage, not cryptography
    for rel in sorted(labels):
        if labels[rel]["format"] == "keras-h5":
            continue  # HDF5 is read in a child process; covered in test_keras_tf_onnx
        data = (files / rel).read_bytes()
        for _ in range(25):
            damaged = bytearray(data[: rnd.randrange(1, len(data) + 1)])
            for _ in range(rnd.choice((0, 1, 3))):
                damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
            result = scan_bytes(bytes(damaged), rel)
            assert not {f.rule for f in result.findings} & {"scanner.error", "scanner.limit"}, rel
