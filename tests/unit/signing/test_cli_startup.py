"""The CLI imports only what the command it runs needs (start-up time of sign/verify)."""

from __future__ import annotations

import subprocess
import sys

import click

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
