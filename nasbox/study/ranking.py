"""Rank correlation: how well one score orders a set of networks as another does (pure Python, exact)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["kendall_tau"]


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (ties counted as in ``scipy.stats.kendalltau``); ``None`` with fewer than two pairs
    or where one side is constant."""
    if len(x) != len(y):
        raise ValueError(f"x and y must be as long as each other, got {len(x)=} and {len(y)=}")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    n0 = concordant + discordant
    denominator = math.sqrt((n0 + ties_x) * (n0 + ties_y))
    return (concordant - discordant) / denominator if denominator else None
