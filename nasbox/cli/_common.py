"""Presentation helpers shared by the command modules."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
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


# ---- argument types: every numeric option is checked where it is parsed (one line, exit 2)


def _parse_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number >= ``minimum``; ``5e6`` is read as 5,000,000."""

    def parse(text: str) -> int:
        value = _parse_number(text)
        if value != int(value) or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return int(value)

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def float_above(minimum: float, *, inclusive: bool = False) -> Callable[[str], float]:
    """A finite number > ``minimum`` (>= with ``inclusive``)."""

    def parse(text: str) -> float:
        value = _parse_number(text)
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"expected a number {'>=' if inclusive else '>'} {minimum:g}, "
                                             f"got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def fraction(text: str) -> float:
    """A share strictly between 0 and 1."""
    value = _parse_number(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: a whole number in [0, 2**32), as numpy and Optuna's samplers take."""
    value = _parse_number(text)
    if value != int(value) or not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, 4294967295], got {text!r}")
    return int(value)
