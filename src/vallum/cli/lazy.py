"""A click group that imports a command's module only when that command is used.

Each command module pulls in what it needs (the kernel and SQLAlchemy, the
gateway's FastAPI, model_signing with sigstore, cyclonedx, h5py...), which costs
seconds of start-up together; ``vallum sign`` should not pay for ``vallum up``.
The root group names each command's ``module:attribute``; its ``commands``
mapping lists every name at once but imports a module only when its command is
looked up (``vallum --help`` looks them all up).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

import click


class LazyCommands(MutableMapping[str, click.Command]):
    """``name -> command``; a command given as ``"package.module:attribute"`` is
    imported on first access."""

    def __init__(self, specs: dict[str, str]) -> None:
        self._specs = dict(specs)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            spec = self._specs[name]  # KeyError for an unknown name, as a dict
            module_name, _, attribute = spec.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{spec} is not a click command")
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._specs.pop(name, None)

    def __delitem__(self, name: str) -> None:
        if name not in self._loaded and name not in self._specs:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._specs.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._specs, *self._loaded}))

    def __len__(self) -> int:
        return len({*self._specs, *self._loaded})

    def __contains__(self, name: object) -> bool:
        return name in self._specs or name in self._loaded


class LazyGroup(click.Group):
    """``lazy`` maps a command name to ``"package.module:attribute"``."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.commands = LazyCommands(lazy)
