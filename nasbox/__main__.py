"""``python -m nasbox``: the same command line as ``nasbox``."""

from nasbox.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
