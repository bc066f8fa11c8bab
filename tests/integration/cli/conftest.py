"""Fixtures for CLI tests: run main(argv) in-process, and an initialised data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from vallum.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    d = tmp_path / "data"
    code, _, _ = run(capsys, "--data-dir", str(d), "init")
    assert code == 0
    return d
