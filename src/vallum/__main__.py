"""``python -m vallum``."""

from vallum.cli import run

if __name__ == "__main__":
    run()
