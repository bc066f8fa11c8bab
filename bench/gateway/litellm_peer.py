"""LiteLLM's proxy as the peer: its own venv (bench/.venv-litellm), its defaults, one worker.

The venv is created on first use with a pinned ``litellm[proxy]`` from PyPI. The proxy
runs from a config.yaml that maps one model name to the mock as an OpenAI-compatible
upstream. No database. Two settings differ from a bare start, both needed to run at
all here: a master key (LiteLLM refuses to start without one) and
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (use the cost map shipped in the package rather
than fetching it from the network at start-up).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.loadgen import Target
from gateway.servers import HOST, Server, free_port, start

LITELLM_VERSION = "1.108.7"
VENV = Path(__file__).resolve().parent.parent / ".venv-litellm"
MODEL = "bench-model"
MASTER_KEY = "sk-bench-" + "0123456789abcdef" * 2


def ensure_venv() -> Path:
    """Create bench/.venv-litellm with the pinned LiteLLM if it is missing or differs."""
    python = VENV / "bin" / "python"
    if python.exists():
        found = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if found == LITELLM_VERSION:
            return VENV / "bin" / "litellm"
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {VENV} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"litellm[proxy]=={LITELLM_VERSION}"],
        check=True,
    )
    return VENV / "bin" / "litellm"


def version() -> str:
    return LITELLM_VERSION


def start_litellm(mock_port: int, workdir: Path) -> tuple[Server, Target]:
    exe = ensure_venv()
    config = workdir / "litellm-config.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/mock-model\n"
        f"      api_base: http://{HOST}:{mock_port}/v1\n"
        "      api_key: sk-mock\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    port = free_port()
    argv = [str(exe), "--config", str(config), "--host", HOST, "--port", str(port)]
    argv += ["--num_workers", "1"]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    server = start("litellm", argv, port, workdir, env=env, cwd=workdir)
    return server, Target("litellm", HOST, port, MODEL, api_key=MASTER_KEY)
