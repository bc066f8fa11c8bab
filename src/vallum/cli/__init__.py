"""The ``vallum`` command line. ``main(argv)`` runs in-process (tests call it)."""

from vallum.cli.main import main, run

__all__ = ["main", "run"]
