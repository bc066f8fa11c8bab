"""Shared CLI plumbing: settings from the root group, output formats, durations."""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vallum.errors import UsageError

if TYPE_CHECKING:
    from vallum.config import VallumSettings
    from vallum.context import Context

# The settings, the kernel and the catalog are imported on first use, not at
# start-up: commands that never open the data directory skip their import time.

F = TypeVar("F", bound=Callable[..., Any])


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


class State:
    """What the root group parsed; settings are built once, on first use."""

    def __init__(self, data_dir: Path | None, config: Path | None, debug: bool) -> None:
        self.data_dir = data_dir
        self.config = config
        self.debug = debug
        self._settings: VallumSettings | None = None

    def settings(self, **flags: Any) -> VallumSettings:
        if self._settings is None or flags:
            from vallum.config import load_settings

            self._settings = load_settings(self.config, data_dir=self.data_dir, **flags)
            if not self.debug:
                logging.getLogger().setLevel(self._settings.log_level.upper())
        return self._settings

    def data_dir_missing(self) -> bool:
        """Whether the data directory does not exist (Vallum is not initialised).

        Decided without building the settings (pydantic) when no config file can
        set the directory: the flag, then ``VALLUM_DATA_DIR``, then the default,
        which is the settings' own precedence. Otherwise the settings decide.
        """
        env = os.environ.get("VALLUM_DATA_DIR")
        no_toml = not (
            self.config or os.environ.get("VALLUM_CONFIG") or Path("vallum.toml").is_file()
        )
        if self.data_dir is not None:
            directory = self.data_dir
        elif env:
            directory = Path(env)
        elif no_toml:
            import platformdirs

            directory = Path(platformdirs.user_data_dir("vallum", appauthor=False))
        else:
            directory = self.settings().data_dir
        return not directory.expanduser().exists()

    def context(self, **flags: Any) -> Context:
        from vallum.context import open_context

        return open_context(self.settings(**flags))


pass_state = click.make_pass_decorator(State)


def format_option(default: Format = Format.TABLE) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice([f.value for f in Format]),
        default=default.value,
        show_default=True,
        help="Output as a table for people or JSON for programs.",
    )


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def parse_duration(text: str) -> dt.timedelta:
    """``90d``, ``12h``, ``2w``... -> timedelta; UsageError otherwise."""
    from vallum.governance.catalog import parse_duration as catalog_duration

    try:
        return catalog_duration(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a duration like 90d, 12h or 2w") from None
