"""Synthetic benchmark tables for the table evaluator (``--evaluator table:FILE.csv``).

``nb201_table`` gives every one of the 15,625 NAS-Bench-201 cells an accuracy that is a fixed
function of the cell, shaped like the published benchmark's (chance for disconnected cells;
3x3 convolutions on the paths to the output help most, then 1x1 convolutions, a skip from the
input a little; pools and skips elsewhere barely), with a deterministic per-cell perturbation
so that no two cells tie. It stands in for NAS-Bench-201's table on machines without it: a
search's behaviour on it says how the loop, the storage and the samplers scale, not how well a
sampler does on the real benchmark (run the benchmarks on a converted real table for that:
``--table FILE.csv``).

    python bench/tables.py nb201 OUT.csv
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from pathlib import Path

_WEIGHTS = {"nor_conv_3x3": 0.045, "nor_conv_1x1": 0.025, "avg_pool_3x3": 0.004, "skip_connect": 0.002, "none": 0.0}


def nb201_accuracy(edges: dict[tuple[int, int], str]) -> float:
    """The synthetic accuracy (a fraction) of one NAS-Bench-201 cell."""
    from search_spaces.nb201 import NB201Cell

    cell = NB201Cell(8, **{f"e{i}{j}": op for (i, j), op in edges.items()})
    if cell.ignores_input():
        return 0.10
    used = cell.used_edges()
    score = 0.60 + sum(_WEIGHTS[op] for edge, op in edges.items() if edge in used)
    score += 0.03 * (edges[(0, 3)] == "skip_connect")  # the residual path of the best published cells
    score -= 0.02 * max(0, sum(op == "skip_connect" for op in edges.values()) - 2)  # too many skips
    digest = hashlib.sha256(repr(sorted(edges.items())).encode()).digest()
    return min(0.99, score + (digest[0] / 255 - 0.5) * 0.02)


def nb201_table(path: str | Path, space=None) -> dict[str, float]:
    """Write the synthetic table of every cell of ``space`` (nb201 by default) to ``path``; return it."""
    from nasbox.evaluate.table import write_table
    from nasbox.spaces import get_space
    from search_spaces.nb201 import EDGES, format_nb201

    space = space or get_space("nb201")
    rows = {}
    for ops in itertools.product(space.ops, repeat=len(EDGES)):
        edges = dict(zip(EDGES, ops, strict=True))
        rows[format_nb201(edges)] = nb201_accuracy(edges)  # the space's arch string of the cell
    write_table(path, {arch: {"accuracy": acc} for arch, acc in rows.items()})
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "nb201":
        sys.exit("usage: python bench/tables.py nb201 OUT.csv")
    print(f"{len(nb201_table(sys.argv[2])):,} rows written to {sys.argv[2]}")
