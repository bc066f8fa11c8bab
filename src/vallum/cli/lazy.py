"""A click group that imports a command's module only when that command runs.

Each command module pulls in what it needs (the kernel and SQLAlchemy, the
gateway's FastAPI, model_signing with sigstore, cyclonedx, h5py...), which costs
seconds of start-up together; ``vallum sign`` should not pay for ``vallum up``.
The root group names each command's ``module:attribute`` and imports it on
first use; ``vallum --help`` still lists them all.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """``lazy`` maps a command name to ``"package.module:attribute"``."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self._lazy:
            module_name, _, attribute = self._lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)
