"""Checks of a genotype's values, shared by the block kinds and the rest of the genotype.

Each raises ``ValueError`` naming the field and the value, as torchvision's configs do.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ACTIVATIONS", "check_act", "check_int", "check_kernel", "check_number", "check_ratio"]

#: the activations a genotype may name (the builder maps each to its module)
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "silu", "hardswish", "gelu", "leaky_relu")


def check_int(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {name}={value!r}")


def check_kernel(value: Any, name: str = "kernel") -> None:
    check_int(name, value)
    if value % 2 == 0:
        raise ValueError(f"{name} must be odd so that padding (F - 1) / 2 keeps the size, got {name}={value!r}")


def check_act(value: Any, name: str = "act") -> None:
    if value not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name}={value!r}")


def check_ratio(name: str, value: Any, high: float = 1.0, high_inclusive: bool = True) -> float:
    """A number in ``[0, high]`` (or ``[0, high)``), returned as a float with ``-0.0`` made ``0.0``
    (so that equal genotypes serialise equally)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {name}={value!r}")
    value = float(value) + 0.0
    ok = 0.0 <= value <= high if high_inclusive else 0.0 <= value < high
    if not ok:
        raise ValueError(f"{name} must lie in [0, {high}{']' if high_inclusive else ')'}, got {name}={value!r}")
    return value


def check_number(name: str, value: Any, low: float) -> float:
    """A finite number ``>= low``, returned as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise ValueError(f"{name} must be a number >= {low:g}, got {name}={value!r}")
    return float(value)
