"""The DEV model corpus, generated once per session (its files are only read as bytes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

GENERATOR = Path(__file__).resolve().parents[3].parent / "shared" / "bench" / "make_model_corpus.py"

#: Formats the scanner judges (every format the corpus generator writes).
IMPLEMENTED = {
    "pickle", "pytorch-zip", "pytorch-legacy", "numpy-npy", "numpy-npz", "joblib",
    "safetensors", "onnx", "gguf", "keras", "keras-h5", "tf-savedmodel",
}  # fmt: skip


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    if not GENERATOR.is_file():
        pytest.skip(f"model corpus generator not found at {GENERATOR}")
    out = tmp_path_factory.mktemp("model-corpus")
    subprocess.run([sys.executable, str(GENERATOR), str(out)], check=True, capture_output=True)
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    return out / "files", labels
