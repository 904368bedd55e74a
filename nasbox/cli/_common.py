"""Presentation helpers shared by the command modules."""

from __future__ import annotations

import sys
from typing import Any


def _console():
    from rich.console import Console

    # A log file or pipe gets wide lines (no wrapping at 80 columns); a terminal its own width.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
