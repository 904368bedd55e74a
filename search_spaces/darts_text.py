"""DARTS' genotypes as text: nasbox's short cell codes (``sep3~0-sep3~1-…``) and DARTS' own ``Genotype(...)``.

Liu et al., 2019 (DARTS) write a network's cells as ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2,
3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``; :func:`parse_genotype` reads that text with Python's ``ast``
(literals only, nothing is evaluated) and :func:`format_genotype` writes it. A cell is also written compactly, an
op code and its input per edge (:func:`format_cell`, :func:`parse_cell`), in the block's encoding.
"""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["CELLS", "CODES", "CONCAT", "DARTS_V2", "FORMAT", "OPS", "STEPS", "Genotype", "format_cell", "format_genotype",
           "parse_cell", "parse_genotype"]

OPS: tuple[str, ...] = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3",
                        "avg_pool_3x3", "skip_connect", "none")
STEPS = 4  # intermediate nodes of a cell
CELLS: tuple[str, ...] = ("normal", "reduce")
CONCAT = list(range(2, STEPS + 2))  # the states a cell's output concatenates: all its nodes
#: each op's code in the encoding (``nasbox.spaces.format_ops``, :func:`format_cell`)
CODES = {"sep_conv_3x3": "sep3", "sep_conv_5x5": "sep5", "dil_conv_3x3": "dil3", "dil_conv_5x5": "dil5",
         "max_pool_3x3": "max3", "avg_pool_3x3": "avg3", "skip_connect": "skip", "none": "none"}
_OP_OF_CODE = {code: op for op, code in CODES.items()}

Genotype = tuple[tuple[str, int], ...]  # a cell: 2 * STEPS (op, input state) pairs, node by node

#: DARTS V2 (second order), the cells of the paper's Table 1 (``genotypes.DARTS_V2`` of the reference code)
DARTS_V2: dict[str, Genotype] = {
    "normal": (("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
               ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    "reduce": (("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
               ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
}


# --------------------------------------------------------------------------- cells as text


def format_cell(cell: Genotype) -> str:
    """The encoding's text of a cell: ``sep3~0-sep3~1-…`` (op code ``~`` input state, node by node)."""
    return "-".join(f"{CODES[op]}~{source}" for op, source in cell)


def parse_cell(code: str) -> Genotype:
    """The ``(op, input)`` pairs of a cell's :func:`format_cell` text; ``ValueError`` naming what is wrong."""
    entries = str(code).split("-")
    if len(entries) != 2 * STEPS:
        raise ValueError(f"a DARTS cell lists {2 * STEPS} 'op~input' entries joined by '-', got {code!r}")
    cell = []
    for i, entry in enumerate(entries):
        m = re.fullmatch(r"([a-z0-9]+)~([0-9])", entry)
        if not m or m.group(1) not in _OP_OF_CODE:
            raise ValueError(f"entry {i + 1} of the DARTS cell {code!r} must read 'op~input' with op one of "
                             f"{', '.join(_OP_OF_CODE)}, got {entry!r}")
        cell.append((_OP_OF_CODE[m.group(1)], _check_source(i, int(m.group(2)), repr(entry))))
    return tuple(cell)


def _check_source(i: int, source: int, what: str) -> int:
    node = i // 2
    if not 0 <= source <= node + 1:
        raise ValueError(f"node {node} reads a state among 0..{node + 1} (the cell's two inputs and the nodes before "
                         f"it), got {what}")
    return source


def format_genotype(normal: Genotype, reduce: Genotype) -> str:
    """DARTS' text of a genotype, as ``str()`` prints its ``Genotype`` namedtuple (with lists)."""
    return (f"Genotype(normal={[tuple(e) for e in normal]!r}, normal_concat={CONCAT!r}, "
            f"reduce={[tuple(e) for e in reduce]!r}, reduce_concat={CONCAT!r})")


_GENOTYPE_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
FORMAT = "Genotype(normal=[('op', input), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])"


def parse_genotype(text: str) -> dict[str, Genotype]:
    """``{"normal": cell, "reduce": cell}`` of DARTS' genotype text; ``ValueError`` naming what is wrong."""
    source = str(text).strip()
    short = source if len(source) <= 60 else source[:57] + "..."
    try:
        call = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise ValueError(f"a DARTS genotype reads {FORMAT}; {short!r} is not Python syntax") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise ValueError(f"a DARTS genotype reads {FORMAT}, got {short!r}")
    if len(call.args) > len(_GENOTYPE_FIELDS) or any(isinstance(a, ast.Starred) for a in call.args):
        raise ValueError(f"a DARTS genotype has the fields {', '.join(_GENOTYPE_FIELDS)}, got {short!r}")
    given: dict[str, ast.expr] = dict(zip(_GENOTYPE_FIELDS, call.args, strict=False))
    for kw in call.keywords:
        if kw.arg not in _GENOTYPE_FIELDS:
            raise ValueError(f"a DARTS genotype has the fields {', '.join(_GENOTYPE_FIELDS)}, got "
                             f"{'**' if kw.arg is None else kw.arg!r}")
        if kw.arg in given:
            raise ValueError(f"the DARTS genotype gives {kw.arg} twice")
        given[kw.arg] = kw.value
    missing = [f for f in _GENOTYPE_FIELDS if f not in given]
    if missing:
        raise ValueError(f"the DARTS genotype lacks {', '.join(missing)}: it reads {FORMAT}")
    cells = {}
    for cell in CELLS:
        cells[cell] = _literal_cell(cell, given[cell])
        concat = _literal_concat(given[f"{cell}_concat"])
        if concat != CONCAT:
            raise ValueError(f"a cell of nasbox's darts space concatenates its {STEPS} nodes: {cell}_concat must be "
                             f"{CONCAT} (or range(2, {STEPS + 2})), got {ast.unparse(given[f'{cell}_concat'])}")
    return cells


def _literal_cell(cell: str, node: ast.expr) -> Genotype:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if not isinstance(value, (list, tuple)) or len(value) != 2 * STEPS:
        raise ValueError(f"{cell} must list {2 * STEPS} (op, input) pairs, 2 per node, got {ast.unparse(node)[:60]}")
    out = []
    for i, entry in enumerate(value):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], int) and not isinstance(entry[1], bool)):
            raise ValueError(f"entry {i + 1} of {cell} must be an (op, input) pair, got {entry!r}")
        op, source = entry
        if op not in OPS:
            raise ValueError(f"unknown DARTS op {op!r} in {cell}; ops: {', '.join(OPS)}")
        out.append((op, _check_source(i, source, f"{entry!r} (entry {i + 1} of {cell})")))
    return tuple(out)


def _literal_concat(node: ast.expr) -> Any:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords
            and 1 <= len(node.args) <= 3
            and all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args)):
        return list(range(*(a.value for a in node.args)))  # type: ignore[union-attr]
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return list(value) if isinstance(value, (list, tuple)) else value
