"""The DARTS space: a normal and a reduction cell, stacked in DARTS' CIFAR network.

Liu, Simonyan & Yang, 2019, "DARTS: Differentiable Architecture Search" (ICLR). The network is
the paper's ``NetworkCIFAR`` (``model.py`` of the reference code, eval form: no auxiliary head,
no drop-path)::

    stem:   3x3 conv to 3C channels (no bias) + BatchNorm
    cells:  3N + 2 cells: N normal, 1 reduction (2C), N normal, 1 reduction (4C), N normal
    head:   global average pool -> linear classifier

Each cell is fed the outputs of the two cells before it (the stem's output for the first):
``pre0`` maps the older one to C channels (a ``FactorizedReduce`` when the cell before is a
reduction cell, which halved the map, else ReLU-conv-BN 1x1), ``pre1`` the newer one
(ReLU-conv-BN 1x1). States 0 and 1 are these, node ``k`` (state ``k + 2``, ``k`` in 0..3) is
the sum of two ops, each applied to an earlier state, and the cell's output concatenates the
four nodes (4C channels). In a reduction cell the ops on states 0 and 1 have stride 2 (and C
is doubled). The eight ops are DARTS' ``PRIMITIVES``:

    sep_conv_3x3, sep_conv_5x5   [ReLU, depthwise kxk, pointwise 1x1, BN] twice (the first strided)
    dil_conv_3x3, dil_conv_5x5   ReLU, depthwise kxk of dilation 2, pointwise 1x1, BN
    max_pool_3x3, avg_pool_3x3   3x3 pools, padding 1 (the average without the padding)
    skip_connect                 identity (a FactorizedReduce when strided)
    none                         no connection (zeros)

listed here with the convolutions first (DARTS lists ``none`` first), so that a space's first
choice (``SearchSpace.example``) is a network, not zeros. DARTS' derived genotypes never hold
``none`` (its derivation drops it); it is offered by default all the same, and ``ops`` bounds
the choice (``--space-arg ops=sep_conv_3x3,...``). DARTS derives two *distinct* inputs per node;
the reference network computes any pair, the same state twice included, and so does this space:
every sampled genotype is valid as drawn.

The bounds are C (``channels``, 16) and N (``cells``, normal cells per stage, 1: a 5-cell
network, small enough for quick searches and tests). DARTS searched with N = 2 (8 cells) at
C = 16 and evaluated its cells with N = 6 (20 cells) at C = 36: ``--space-arg cells=6
--space-arg channels=36`` gives the paper's evaluation network (DARTS V2: 3,349,342 parameters
on CIFAR-10 without the auxiliary head). The input's height and width must be multiples of 4
(the factorized reductions halve even maps, twice).

Genotypes are read and written in DARTS' own text (:meth:`DartsSpace.arch_string`,
:meth:`DartsSpace.parse_arch`), the ``str()`` of its ``Genotype`` namedtuple::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])

(8 ``(op, input)`` pairs per cell, node by node; ``range(2, 6)`` is read for a concat too).
``nasbox show darts --arch "Genotype(...)"`` and the table evaluator's ``arch`` column use it.

The whole stack of cells is one block kind (:class:`DartsCells`, type ``darts_cells``, tag
``dc``), since a cell has two inputs and the blocks of a genotype form a chain; its rows are
named by module path (``stage1.block1.cell3.pre0``, ``stage1.block1.cell3.node2.op1``) and its
cells are written in the encoding as ``nc`` / ``rc`` text tokens, ``sep3~0-sep3~1-…``
(op code ``~`` input, node by node). ``none`` ops are not computed, nor a preprocessing no op
reads, nor a cell whose output no later cell reads (a trace drops them too): they cost no MACs,
their parameters still count. A network whose output no path of ops links to its input
computes a constant (:meth:`DartsCells.ignores_input`): a search scores it at chance.

Parameters (all drawn on every trial): ``{cell}.node{k}.op{j}`` (the op) and
``{cell}.node{k}.in{j}`` (its input state, 0..k+1) for ``cell`` in ``normal``, ``reduce``,
``k`` in 0..3, ``j`` in 0..1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from nasbox.errors import ShapeError, SpaceError
from nasbox.model.arch import Architecture, Head, Stage
from nasbox.model.blocks import Block, ConvBlock, register_block
from nasbox.model.checks import check_int
from nasbox.model.ops import Shape, Walker
from nasbox.spaces import SearchSpace, check_cell_bounds, format_ops, parse_ops, register_space
from search_spaces.darts_ops import factorized_reduce, mark, op_rows, reads, relu_conv_bn
from search_spaces.darts_text import (
    CELLS,
    CODES,
    CONCAT,
    DARTS_V2,
    FORMAT,
    OPS,
    STEPS,
    Genotype,
    format_cell,
    format_genotype,
    parse_cell,
    parse_genotype,
)

__all__ = ["CELLS", "DARTS_V2", "OPS", "STEPS", "DartsCells", "DartsMixedCells", "DartsSpace", "format_cell", "format_genotype",
           "parse_cell", "parse_genotype"]  # the genotype text is search_spaces.darts_text's, re-exported here


# --------------------------------------------------------------------------- the block kind


@register_block
@dataclass(frozen=True)
class DartsCells(Block):
    """DARTS' stack of 3N + 2 cells (N = ``cells``) of C = ``channels``: N normal cells, a reduction cell
    (2C), N normal, a reduction cell (4C), N normal; ``normal`` and ``reduce`` are the two cells in
    :func:`format_cell` text. Fed the stem's output; gives 4 x 4C channels at a quarter of the map.
    Block string: ``dc_c16_n1_ncsep3~0-sep3~1-…_rcmax3~0-…``."""

    type: ClassVar[str] = "darts_cells"
    tag: ClassVar[str] = "dc"
    tokens: ClassVar[dict[str, str]] = {"channels": "c", "cells": "n"}
    texts: ClassVar[dict[str, str]] = {"normal": "nc", "reduce": "rc"}

    channels: int
    cells: int
    normal: str
    reduce: str

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("channels", self.channels)
        check_int("cells", self.cells)
        for cell in CELLS:
            parse_cell(getattr(self, cell))

    def genotype(self, reduction: bool) -> Genotype:
        return parse_cell(self.reduce if reduction else self.normal)

    @property
    def layers_count(self) -> int:
        """DARTS' ``layers``: the number of cells, 3N + 2."""
        return 3 * self.cells + 2

    def plan(self, in_channels: int) -> list[tuple[Genotype, int, int, int, bool, bool]]:
        """Per cell, as DARTS' ``NetworkCIFAR`` makes them: ``(genotype, C_pp, C_p, C, reduction,
        reduction_prev)``, reductions at ``layers // 3`` and ``2 * layers // 3``."""
        layers = self.layers_count
        c_pp = c_p = in_channels
        c, reduction_prev, out = self.channels, False, []
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            c *= 2 if reduction else 1
            out.append((self.genotype(reduction), c_pp, c_p, c, reduction, reduction_prev))
            c_pp, c_p, reduction_prev = c_p, len(CONCAT) * c, reduction
        return out

    def live(self) -> list[bool]:
        """Whether each cell's output is read: by the head (the last cell), by the next cell's ``pre1`` or by
        the one after's ``pre0``, where an op that is not ``none`` reads that input. The others are not computed."""
        read = [reads(genotype) for genotype, *_ in self.plan(1)]
        live = [False] * len(read)
        live[-1] = True
        for i in reversed(range(len(read) - 1)):
            live[i] = (live[i + 1] and 1 in read[i + 1]) or (i + 2 < len(read) and live[i + 2] and 0 in read[i + 2])
        return live

    def ignores_input(self) -> bool:
        feeds = [True, True]  # whether each output (the stack's input twice, then each cell's) depends on the input
        for genotype, *_ in self.plan(1):
            states = feeds[-2:]
            for k in range(STEPS):
                states.append(any(states[source] for op, source in genotype[2 * k: 2 * k + 2] if op != "none"))
            feeds.append(any(states[2:]))
        return not feeds[-1]

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        def terms(k: int, genotype: Genotype) -> list[tuple[str, str, int]]:
            return [(f"op{j}", op, source) for j, (op, source) in enumerate(genotype[2 * k: 2 * k + 2])]

        return _analyze_stack(walker, name, shape, self.plan(shape[0]), self.live(), terms, True)

    def module(self, in_channels: int) -> Any:
        from search_spaces.darts_modules import DartsCellsModule

        return DartsCellsModule(self.plan(in_channels), self.live())


def _analyze_stack(walker: Walker, name: str, shape: Shape, plan: list, live: list[bool],
                   terms: Callable[[int, Genotype], list[tuple[str, str, int]]], affine: bool) -> Shape:
    """The rows of a stack of DARTS cells of ``plan`` (:meth:`DartsCells.plan`): per cell its preprocessing and,
    per node ``k``, each ``(module name, op, source state)`` of ``terms(k, genotype)`` (``none`` gives no row);
    a cell that is not ``live``, or a preprocessing no op reads, is held (its parameters) and not computed."""
    outputs = [shape, shape]
    for i, ((genotype, _, _, c, reduction, reduction_prev), is_live) in enumerate(zip(plan, live, strict=True)):
        cell = f"{name}.cell{i + 1}"  # the channels fed are the shapes'
        nodes = [terms(k, genotype) for k in range(STEPS)]
        used = {source for node in nodes for _, op, source in node if op != "none"}
        note = "" if is_live else " (not computed: no cell reads this one)"
        pre = [factorized_reduce(walker, f"{cell}.pre0", outputs[-2], c, affine) if reduction_prev
               else relu_conv_bn(walker, f"{cell}.pre0", outputs[-2], c, affine)]
        mark(walker, note or ("" if 0 in used else " (not computed: no op reads it)"))
        pre.append(relu_conv_bn(walker, f"{cell}.pre1", outputs[-1], c, affine))
        mark(walker, note or ("" if 1 in used else " (not computed: no op reads it)"))
        if pre[0] != pre[1]:
            raise ShapeError(f"{cell}: its inputs come out of preprocessing at {pre[0]} and {pre[1]}")
        states = pre
        for k, node in enumerate(nodes):
            outs = []
            for module, op, source in node:
                stride = 2 if reduction and source < 2 else 1
                outs.append(op_rows(walker, f"{cell}.node{k}.{module}", states[source], op, stride, affine))
                if op != "none":
                    mark(walker, note)
            states.append(outs[0])
        outputs.append((len(CONCAT) * c, *states[2][1:]))
    return outputs[-1]


@register_block
@dataclass(frozen=True)
class DartsMixedCells(Block):
    """The one-shot supernet's stack of DARTS cells (``nasbox supernet train --space darts``): the skeleton of
    :class:`DartsCells` whose every cell holds, on each edge from an earlier state ``s`` to node ``k``, every op of
    ``ops`` (their codes joined by ``-``), each with its own weights: DARTS' search network (Liu et al., 2019) with
    the architecture weights gone. ``affine=False`` (the default) gives its BatchNorms no scale and shift, as
    DARTS' search network has them. Any :class:`DartsCells` of its channels, cells and ops is a path through it
    (:meth:`admits`): a node's op ``(op, s)`` computes with the module of edge ``s`` and ``op``
    (:class:`~search_spaces.darts_modules.DartsMixedCellsModule`). Block string: ``dcm_c16_n1_o…``."""

    type: ClassVar[str] = "darts_mixed_cells"
    tag: ClassVar[str] = "dcm"
    tokens: ClassVar[dict[str, str]] = {"channels": "c", "cells": "n"}
    texts: ClassVar[dict[str, str]] = {"ops": "o"}
    flags: ClassVar[dict[str, dict[Any, str]]] = {"affine": {True: "affine", False: "noaffine"}}

    channels: int
    cells: int
    ops: str
    affine: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("channels", self.channels)
        check_int("cells", self.cells)
        parse_ops(self.ops, CODES)
        if not isinstance(self.affine, bool):
            raise ValueError(f"affine must be True or False, got affine={self.affine!r}")

    def op_names(self) -> tuple[str, ...]:
        return parse_ops(self.ops, CODES)

    def skeleton(self) -> DartsCells:
        """The plain stack of this skeleton (every op ``none``): its plan of cells and channels."""
        empty = format_cell((("none", 0),) * (2 * STEPS))
        return DartsCells(self.channels, self.cells, empty, empty)

    def admits(self, block: Block) -> bool:
        """Whether ``block`` is a path through this stack: a :class:`DartsCells` of its channels, cells and ops."""
        ops = set(self.op_names())
        return (isinstance(block, DartsCells) and (block.channels, block.cells) == (self.channels, self.cells)
                and all(op in ops for reduction in (False, True) for op, _ in block.genotype(reduction)))

    def analyze(self, walker: Walker, name: str, shape: Shape) -> Shape:
        ops = self.op_names()

        def terms(k: int, genotype: Genotype) -> list[tuple[str, str, int]]:
            return [(f"s{s}.{op}", op, s) for s in range(k + 2) for op in ops]  # none: no row

        plan = self.skeleton().plan(shape[0])
        return _analyze_stack(walker, name, shape, plan, [True] * len(plan), terms, self.affine)

    def module(self, in_channels: int) -> Any:
        from search_spaces.darts_modules import DartsMixedCellsModule

        return DartsMixedCellsModule(self.op_names(), self.skeleton().plan(in_channels), self.affine)


# --------------------------------------------------------------------------- the space


@register_space
@dataclass(frozen=True)
class DartsSpace(SearchSpace):
    """DARTS' cells in its CIFAR network (Liu et al., 2019).

    Parameters: ``{cell}.node{k}.op{j}`` and ``{cell}.node{k}.in{j}`` for ``cell`` in ``normal``,
    ``reduce``, ``k`` in 0..3, ``j`` in 0..1.

    Args:
        channels: C, the channels of the first cells (the stem has 3C; 2C and 4C after the reductions).
        cells: N, the normal cells per stage: 3N + 2 cells in all (DARTS searched with N = 2 at C = 16
            and evaluated with N = 6 at C = 36).
        ops: the ops a node's input may take (a subset of DARTS' eight).
    """

    channels: int = 16
    cells: int = 1
    ops: tuple[str, ...] = OPS

    name = "darts"
    description = "DARTS: a normal and a reduction cell (4 nodes of 2 ops among 8) in 3N+2 cells"
    rules = (
        "each of a cell's 4 nodes sums two ops on earlier states (the two previous cells' outputs, then its nodes)",
        "3N+2 cells: N normal, a reduction (2C, stride 2), N normal, a reduction (4C), N normal",
        "a cell's output concatenates its 4 nodes; the input's height and width are multiples of 4",
    )

    def validate(self) -> None:
        check_cell_bounds(self, OPS)
        _, h, w = self.input_shape
        if h % 4 or w % 4:
            raise SpaceError(f"the darts network halves the map twice with factorized reductions (of even maps): the "
                             f"input's height and width must be multiples of 4, got {w}x{h}")

    def sample(self, trial: Any) -> Architecture:
        cells = {}
        for cell in CELLS:
            entries = []
            for k in range(STEPS):
                for j in range(2):
                    op = trial.suggest_categorical(f"{cell}.node{k}.op{j}", self.ops)
                    source = trial.suggest_categorical(f"{cell}.node{k}.in{j}", tuple(range(k + 2)))
                    entries.append((op, source))
            cells[cell] = tuple(entries)
        return self.network(cells["normal"], cells["reduce"])

    def network(self, normal: Genotype, reduce: Genotype) -> Architecture:
        """The whole network of a normal and a reduction cell, in this space's skeleton."""
        return self._skeleton(DartsCells(self.channels, self.cells, format_cell(normal), format_cell(reduce)))

    def _skeleton(self, stack: Block) -> Architecture:
        """DARTS' CIFAR network around a stack of cells: the 3C stem, the stack, global pooling."""
        stem = Stage((ConvBlock(3 * self.channels, 3, 1, act=None),))
        return Architecture(self.input_shape, self.num_classes, (Stage((stack,)),), Head("gap"), stem)

    def one_shot(self, affine: bool = False) -> Architecture:
        """The one-shot supernet's network: this skeleton with the stack of cells a :class:`DartsMixedCells` of this
        space's ops (every edge of every cell holds every op; ``affine``: its BatchNorms learn a scale and shift)."""
        return self._skeleton(DartsMixedCells(self.channels, self.cells, format_ops(self.ops, CODES), affine))

    def arch_string(self, arch: Architecture) -> str:
        stacks = [b for _, s in arch.named_stages() for b in s.blocks if isinstance(b, DartsCells)]
        if len(stacks) != 1:
            raise SpaceError(f"not a DARTS network (one stack of DARTS cells): {arch.encode()}")
        return format_genotype(stacks[0].genotype(False), stacks[0].genotype(True))

    def parse_arch(self, text: str) -> Architecture:
        """DARTS' genotype text (``Genotype(normal=[…], …)``) or nasbox's encoding of a network."""
        if not str(text).strip().startswith("Genotype"):
            try:
                arch = super().parse_arch(text)
            except SpaceError as exc:
                raise SpaceError(f"{exc} (nor DARTS' genotype text, {FORMAT})") from None
            return self._of_this_space(arch)
        try:
            cells = parse_genotype(text)
        except ValueError as exc:
            raise SpaceError(str(exc)) from None
        params = {}
        for cell, genotype in cells.items():
            for i, (op, source) in enumerate(genotype):
                params[f"{cell}.node{i // 2}.op{i % 2}"] = op
                params[f"{cell}.node{i // 2}.in{i % 2}"] = source
        return self.from_params(params)
