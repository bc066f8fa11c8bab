"""The CLI imports only what the command it runs needs (start-up time of sign/verify)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from tests.unit.signing.material import make_model, write_key
from vallum.cli.app import COMMANDS, cli

HEAVY = ("sqlalchemy", "alembic", "model_signing", "sigstore", "cyclonedx", "fastapi", "uvicorn")


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=120
    )
    return set(out.stdout.split())


def test_root_group_imports_no_heavy_dependency() -> None:
    loaded = _imported_after("import vallum.cli.main")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    assert "vallum.cli.signing" not in loaded and "vallum.context" not in loaded


def test_signing_command_module_does_not_import_the_kernel_or_model_signing() -> None:
    loaded = _imported_after("import vallum.cli.signing")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_every_lazy_command_resolves_under_its_name() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command)
        assert command.name == name


def _cli_imports(args: list[str], env_data_dir: Path) -> set[str]:
    """Top-level modules a `vallum` command imports, from ``python -X importtime``."""
    env = {**os.environ, "VALLUM_DATA_DIR": str(env_data_dir)}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vallum", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    lines = [line for line in out.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines[1:]}


def test_sign_and_verify_with_a_key_import_neither_model_signing_nor_the_kernel(
    tmp_path: Path,
) -> None:
    pair = write_key(tmp_path, "startup")
    model = make_model(tmp_path / "model")
    signature = tmp_path / "model.sig"
    absent = tmp_path / "not-initialised"
    signed = _cli_imports(
        ["sign", str(model), "--private-key", str(pair.private), "--signature", str(signature)],
        absent,
    )
    verified = _cli_imports(
        ["verify", str(model), "--public-key", str(pair.public), "--signature", str(signature)],
        absent,
    )
    assert "cryptography" in signed and "cryptography" in verified  # the probe sees imports
    assert not (signed | verified) & {*HEAVY, "pydantic", "pydantic_settings"}
