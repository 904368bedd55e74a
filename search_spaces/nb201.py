"""The NAS-Bench-201 space: one searched cell, repeated in a fixed residual skeleton.

Dong & Yang, 2020, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
Search" (ICLR). The cell is a DAG of 4 nodes: node 0 is the cell's input, node 3 its output, and
each node ``j`` is the sum of one operation per earlier node ``i`` applied to node ``i``:
6 edges, each one of

    none           no connection (zeros)
    skip_connect   identity
    nor_conv_1x1   ReLU -> 1x1 conv -> BatchNorm
    nor_conv_3x3   ReLU -> 3x3 conv -> BatchNorm
    avg_pool_3x3   3x3/1 average pool

so the space has 5^6 = 15,625 cells. The skeleton is the paper's::

    stem:   3x3 conv (C filters) + BatchNorm
    stage1: N cells at C channels
    stage2: residual reduction block to 2C (stride 2), N cells at 2C
    stage3: residual reduction block to 4C (stride 2), N cells at 4C, BatchNorm + ReLU
    head:   global average pool -> linear classifier

with C = 16 and N = 5 by default (both are bounds). The residual reduction block is
``conv_b(conv_a(x)) + shortcut(x)``: two ReLU-conv-BN 3x3 convolutions, the first of stride
2, and a 2x2/2 average pool followed by a 1x1 convolution as the shortcut.

Genotypes are read and written in NAS-Bench-201's arch string (:meth:`NB201Space.arch_string`,
:meth:`NB201Space.parse_arch`), ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~i`` is the
edge from node ``i`` into the node of that group; ``nasbox show nb201 --arch '…'`` and the
table evaluator's ``arch`` column use it. A cell whose output node no path of live edges
reaches from its input is *disconnected*: the network computes a constant, its accuracy is
chance (:meth:`NB201Cell.ignores_input`); the search records it so without training.

Parameters: ``node{j}.in{i}`` (the op on the edge from node ``i`` into node ``j``) for
``1 <= j <= 3``, ``0 <= i < j``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nasbox.errors import ShapeError, SpaceError
from nasbox.model.analysis import Layer
from nasbox.model.arch import Architecture, Head, Stage
from nasbox.model.blocks import Block, ConvBlock, register_block
from nasbox.model.checks import check_act
from nasbox.model.ops import Conv, Pool, Shape, Walker
from nasbox.spaces import SearchSpace, check_cell_bounds, format_ops, parse_ops, register_space

__all__ = ["EDGES", "OPS", "BNAct", "NB201Cell", "NB201MixedCell", "NB201Reduction", "NB201Space", "format_nb201",
           "parse_nb201"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 4
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for j in range(1, NODES) for i in range(j))  # arch-string order
_CODES = {"none": "none", "skip_connect": "skip", "nor_conv_1x1": "cv1", "nor_conv_3x3": "cv3", "avg_pool_3x3": "ap"}


@register_block
@dataclass(frozen=True)
class NB201Cell(Block):
    """A NAS-Bench-201 cell of ``out_channels`` channels (it keeps its input's); field ``e{i}{j}`` is
    the op on the edge from node ``i`` into node ``j``. Block string: ``nbc_c16_e01cv3_e02skip…``
    (``none`` edges, the default, are left out)."""

    type: ClassVar[str] = "nb201_cell"
    tag: ClassVar[str] = "nbc"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c"}
    flags: ClassVar[dict[str, dict[str, str]]] = {
        f"e{i}{j}": {op: f"e{i}{j}{code}" for op, code in _CODES.items()} for i, j in EDGES}

    out_channels: int
    e01: str = "none"
    e02: str = "none"
    e12: str = "none"
    e03: str = "none"
    e13: str = "none"
    e23: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        for i, j in EDGES:
            op = getattr(self, f"e{i}{j}")
            if op not in OPS:
                raise ValueError(f"edge e{i}{j} must be one of {', '.join(OPS)}, got {op!r}")

    def edges(self) -> dict[tuple[int, int], str]:
        """``(i, j) -> op`` in arch-string order."""
        return {(i, j): getattr(self, f"e{i}{j}") for i, j in EDGES}

    def used_edges(self) -> set[tuple[int, int]]:
        """The edges that are computed: not ``none``, into a node from which a path of such edges reaches
        the output (the others' results would be discarded, so the module does not compute them, and
        they cost no MACs; their parameters still count)."""
        feeds = [False] * (NODES - 1) + [True]
        for i, j in reversed(EDGES):
            feeds[i] = feeds[i] or (feeds[j] and getattr(self, f"e{i}{j}") != "none")
        return {(i, j) for (i, j), op in self.edges().items() if op != "none" and feeds[j]}

    def ignores_input(self) -> bool:
        reached = [True] + [False] * (NODES - 1)
        for (i, j), op in self.edges().items():
            reached[j] = reached[j] or (reached[i] and op != "none")
        return not reached[-1]

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        if shape[0] != self.out_channels:
            raise ShapeError(f"{name}: a NAS-Bench-201 cell keeps its channels, it is fed {shape[0]} for "
                             f"{self.out_channels}")
        used = self.used_edges()
        for (i, j), op in self.edges().items():
            edge = f"{name}.e{i}{j}"
            if op in ("nor_conv_1x1", "nor_conv_3x3"):
                _relu_conv_bn(walker, edge, shape, self.out_channels, int(op[-1]), 1)
            elif op == "avg_pool_3x3":
                walker.pool(edge, shape, Pool("avg", 3, 1))
            elif op == "skip_connect":
                walker.rows.append(Layer(edge, "identity", shape, 0, 0))
            if op != "none" and (i, j) not in used:
                row = walker.rows[-1]
                walker.rows[-1] = row._replace(op=f"{row.op} (unused: node {j} feeds no output)", macs=0)
        return shape

    def module(self, in_channels: int) -> Any:
        from search_spaces.cell_modules import NB201CellModule

        return NB201CellModule(self.edges(), self.used_edges(), self.out_channels, NODES)


@register_block
@dataclass(frozen=True)
class NB201MixedCell(Block):
    """The one-shot supernet's cell (``nasbox supernet train --space nb201``): every edge holds every op of
    ``ops`` (their codes joined by ``-``: ``none-skip-cv1-cv3-ap``), each with its own weights and BatchNorm;
    ``affine=False`` (the default) gives those BatchNorms no scale and shift, as NAS-Bench-201's one-shot
    baselines have them (Dong & Yang, 2020). Any :class:`NB201Cell` of its channels and ops is a path through
    it (:meth:`admits`); its module (:class:`~search_spaces.cell_modules.NB201MixedCellModule`) computes the
    selected path, or every op of every edge summed, which the analysis counts. ``split`` (an edge, ``e01``)
    holds the whole cell once per op of that edge (few-shot NAS's sub-supernets; Zhao et al., 2021):
    :class:`~search_spaces.cell_modules.NB201SplitCellModule`. Block string: ``nbm_c16_o…``."""

    type: ClassVar[str] = "nb201_mixed_cell"
    tag: ClassVar[str] = "nbm"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c"}
    texts: ClassVar[dict[str, str]] = {"ops": "o"}
    flags: ClassVar[dict[str, dict[Any, str]]] = {"affine": {True: "affine", False: "noaffine"},
                                                  "split": {f"e{i}{j}": f"split{i}{j}" for i, j in EDGES}}

    out_channels: int
    ops: str = "-".join(_CODES.values())
    affine: bool = False
    split: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_ops(self.ops, _CODES)
        if not isinstance(self.affine, bool):
            raise ValueError(f"affine must be True or False, got affine={self.affine!r}")
        if self.split and self.split not in {f"e{i}{j}" for i, j in EDGES}:
            raise ValueError(f"split must be an edge e01 .. e23 or empty, got split={self.split!r}")

    def op_names(self) -> tuple[str, ...]:
        return parse_ops(self.ops, _CODES)

    def admits(self, block: Block) -> bool:
        """Whether ``block`` is a path through this cell: an :class:`NB201Cell` of its channels and ops."""
        return (isinstance(block, NB201Cell) and block.out_channels == self.out_channels
                and set(block.edges().values()) <= set(self.op_names()))

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        if shape[0] != self.out_channels:
            raise ShapeError(f"{name}: a NAS-Bench-201 cell keeps its channels, it is fed {shape[0]} for "
                             f"{self.out_channels}")
        for copy in self.op_names() if self.split else ("",):  # a split cell: the whole cell once per op
            self._analyze_cell(walker, f"{name}.{copy}" if copy else name, shape)
        return shape

    def _analyze_cell(self, walker: Walker, name: str, shape: Shape) -> None:
        c, h, w = shape
        for i, j in EDGES:
            for op in self.op_names():
                edge = f"{name}.e{i}{j}.{op}"
                if op in ("nor_conv_1x1", "nor_conv_3x3"):
                    if self.affine:
                        _relu_conv_bn(walker, edge, shape, c, int(op[-1]), 1)
                    else:  # a BatchNorm without scale and shift: no parameters, 1 MAC per element (fvcore)
                        walker.conv(f"{edge}.conv", shape, Conv(c, int(op[-1]), bn=False, bias=False))
                        walker.rows.append(Layer(f"{edge}.bn", "bn (no affine)", shape, 0, c * h * w))
                elif op == "avg_pool_3x3":
                    walker.pool(edge, shape, Pool("avg", 3, 1))
                elif op == "skip_connect":
                    walker.rows.append(Layer(edge, "identity", shape, 0, 0))

    def module(self, in_channels: int) -> Any:
        from search_spaces.cell_modules import NB201MixedCellModule, NB201SplitCellModule

        if self.split:
            edge = (int(self.split[1]), int(self.split[2]))
            return NB201SplitCellModule(self.op_names(), self.out_channels, NODES, self.affine, edge)
        return NB201MixedCellModule(self.op_names(), self.out_channels, NODES, self.affine)


@register_block
@dataclass(frozen=True)
class NB201Reduction(Block):
    """NAS-Bench-201's residual reduction block (ResNet's basic block with pre-activation convolutions):
    ``conv_b(conv_a(x)) + shortcut(x)``, ``conv_a`` a ReLU-conv-BN 3x3/2, ``conv_b`` a ReLU-conv-BN 3x3/1,
    the shortcut a 2x2/2 average pool and a 1x1 convolution without bias."""

    type: ClassVar[str] = "nb201_reduce"
    tag: ClassVar[str] = "nbr"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c"}

    out_channels: int

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        out = _relu_conv_bn(walker, f"{name}.conv_a", shape, self.out_channels, 3, 2)
        out = _relu_conv_bn(walker, f"{name}.conv_b", out, self.out_channels, 3, 1)
        pooled = walker.pool(f"{name}.shortcut.pool", shape, Pool("avg", 2, 2, padding=0))
        short = walker.conv(f"{name}.shortcut.conv", pooled, Conv(self.out_channels, 1, bn=False, bias=False))
        if short != out:
            raise ShapeError(f"{name}: its shortcut gives {short}, its convolutions {out}")
        return out

    def module(self, in_channels: int) -> Any:
        from search_spaces.cell_modules import NB201ReductionModule

        return NB201ReductionModule(in_channels, self.out_channels)


@register_block
@dataclass(frozen=True)
class BNAct(Block):
    """BatchNorm -> activation on the channels it is fed (NAS-Bench-201's ``lastact``, before the pool)."""

    type: ClassVar[str] = "bn_act"
    tag: ClassVar[str] = "bna"

    act: str = "relu"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_act(self.act)

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        c, h, w = shape
        walker.rows.append(Layer(name, f"bn {self.act}", shape, 2 * c, 2 * c * h * w))
        return shape

    def module(self, in_channels: int) -> Any:
        from search_spaces.cell_modules import BNAct as BNActModule

        return BNActModule(in_channels, self.act)


def _relu_conv_bn(walker: Walker, name: str, shape: Shape, out: int, kernel: int, stride: int) -> Shape:
    """A ReLU -> conv -> BatchNorm row (ReLU's cost is nil, so the conv + BN row's counts are its counts)."""
    result = walker.conv(name, shape, Conv(out, kernel, stride))
    walker.rows[-1] = walker.rows[-1]._replace(op="relu " + walker.rows[-1].op)
    return result


def format_nb201(edges: dict[tuple[int, int], str]) -> str:
    """NAS-Bench-201's arch string of a cell's edges: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    return "+".join("|" + "|".join(f"{edges[(i, j)]}~{i}" for i in range(j)) + "|" for j in range(1, NODES))


def parse_nb201(text: str) -> dict[tuple[int, int], str]:
    """The edges ``(i, j) -> op`` of a NAS-Bench-201 arch string; ``ValueError`` naming what is wrong."""
    groups = [g.strip() for g in str(text).strip().split("+")]  # spaces around the separators are read too
    if len(groups) != NODES - 1:
        raise ValueError(f"a NAS-Bench-201 arch string has {NODES - 1} node groups joined by '+', got {text!r}")
    edges: dict[tuple[int, int], str] = {}
    for j, group in enumerate(groups, 1):
        entries = group[1:-1].split("|") if len(group) > 1 and group[0] == group[-1] == "|" else []
        if len(entries) != j:
            raise ValueError(f"node {j} of a NAS-Bench-201 arch string lists {j} edges as "
                             f"'|{'|'.join(f'op~{i}' for i in range(j))}|', got {group!r}")
        for i, entry in enumerate(entries):
            op, sep, source = (part.strip() for part in entry.partition("~"))
            if not sep or source != str(i):
                raise ValueError(f"edge {i + 1} of node {j} must read 'op~{i}', got {entry!r}")
            if op not in OPS:
                raise ValueError(f"unknown NAS-Bench-201 op {op!r}; ops: {', '.join(OPS)}")
            edges[(i, j)] = op
    return edges


@register_space
@dataclass(frozen=True)
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell in the paper's skeleton (Dong & Yang, 2020).

    Parameters: ``node{j}.in{i}`` for ``1 <= j <= 3``, ``0 <= i < j``.

    Args:
        channels: C, the channels of the stem and of stage 1 (2C and 4C after the reductions).
        cells: N, the cells per stage.
        ops: the ops an edge may take (a subset of NAS-Bench-201's five).
    """

    channels: int = 16
    cells: int = 5
    ops: tuple[str, ...] = OPS

    name = "nb201"
    description = "NAS-Bench-201: one 4-node cell (6 edges, 5 ops) in 3 stages of N cells with residual reductions"
    rules = (
        "each node sums one op per earlier node; node 0 is the cell's input, node 3 its output",
        "3 stages of N cells at C, 2C, 4C; a residual reduction block (stride 2) between stages",
        "a cell whose output no path of live edges reaches from its input is disconnected: accuracy is chance",
    )

    def validate(self) -> None:
        check_cell_bounds(self, OPS)

    def sample(self, trial: Any) -> Architecture:
        edges = {(i, j): trial.suggest_categorical(f"node{j}.in{i}", self.ops) for i, j in EDGES}
        return self.network(edges)

    def network(self, edges: dict[tuple[int, int], str]) -> Architecture:
        """The whole network of a cell's edges, in this space's skeleton."""
        c = self.channels
        return self._skeleton([NB201Cell(width, **{f"e{i}{j}": op for (i, j), op in edges.items()})
                               for width in (c, 2 * c, 4 * c)])

    def _skeleton(self, cells: list[Block]) -> Architecture:
        """The paper's skeleton around the cells of its three stages (of C, 2C and 4C channels)."""
        c, n = self.channels, self.cells
        stages = (
            Stage((cells[0],) * n),
            Stage((NB201Reduction(2 * c), *(cells[1],) * n)),
            Stage((NB201Reduction(4 * c), *(cells[2],) * n, BNAct("relu"))),
        )
        stem = Stage((ConvBlock(c, 3, 1, act=None),))
        return Architecture(self.input_shape, self.num_classes, stages, Head("gap"), stem)

    def one_shot(self, affine: bool = False, split: str | None = None) -> Architecture:
        """The one-shot supernet's network: this skeleton with every cell an :class:`NB201MixedCell` of this
        space's ops (every edge holds every op; ``affine``: its BatchNorms learn a scale and shift; ``split``, a
        parameter ``node{j}.in{i}``: each cell held once per op of that edge, few-shot NAS's sub-supernets)."""
        edge = ""
        if split:
            i, j = next(((i, j) for i, j in EDGES if split == f"node{j}.in{i}"), (None, None))
            if i is None:
                raise SpaceError(f"a few-shot split is on an edge node1.in0 .. node3.in2, got split={split!r}")
            edge = f"e{i}{j}"
        c, ops = self.channels, format_ops(self.ops, _CODES)
        return self._skeleton([NB201MixedCell(width, ops, affine, edge) for width in (c, 2 * c, 4 * c)])

    def arch_string(self, arch: Architecture) -> str:
        cells = {tuple(b.edges().items()) for _, s in arch.named_stages() for b in s.blocks if isinstance(b, NB201Cell)}
        if len(cells) != 1:
            raise SpaceError(f"not a NAS-Bench-201 network (one cell repeated): {arch.encode()}")
        return format_nb201(dict(next(iter(cells))))

    def parse_arch(self, text: str) -> Architecture:
        """A NAS-Bench-201 arch string (``|nor_conv_3x3~0|+|…|``) or nasbox's encoding of a network."""
        if not str(text).strip().startswith("|"):
            return self._of_this_space(super().parse_arch(text))
        try:
            edges = parse_nb201(text)
        except ValueError as exc:
            raise SpaceError(str(exc)) from None
        return self.from_params({f"node{j}.in{i}": op for (i, j), op in edges.items()})
