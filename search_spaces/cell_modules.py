"""The ``nn.Module`` s of the cell-based spaces (:mod:`search_spaces.nb201`, :mod:`search_spaces.darts`).

Imported only when a model is built, so that listing or sampling the spaces needs no torch.
Module names are the layer names of the spaces' analyses (``stage1.block2.e01``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from nasbox.model.layers import make_activation

__all__ = ["BNAct", "DartsCellModule", "DartsCellsModule", "DilConv", "FactorizedReduce", "NB201CellModule",
           "NB201MixedCellModule", "NB201ReductionModule", "NB201SplitCellModule", "NonAffineBatchNorm2d", "ReLUConvBN",
           "SepConv"]


class ReLUConvBN(nn.Sequential):
    """ReLU -> convolution (no bias) -> BatchNorm: NAS-Bench-201's ``nor_conv`` and DARTS' preprocessing."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True) -> None:
        super().__init__(OrderedDict(
            act=nn.ReLU(inplace=False),
            conv=nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False),
            bn=nn.BatchNorm2d(c_out) if affine else NonAffineBatchNorm2d(c_out),
        ))


class NonAffineBatchNorm2d(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the channels of a 4-D input without a learned scale and shift (``affine=False``): a
    class of its own, so that initialisation that sets ``BatchNorm2d`` scales passes it by."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=False)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected a 4-D input, got {input.dim()=}")


class BNAct(nn.Sequential):
    """BatchNorm -> activation (NAS-Bench-201's ``lastact`` before the global pool)."""

    def __init__(self, channels: int, act: str) -> None:
        super().__init__(OrderedDict(bn=nn.BatchNorm2d(channels), act=make_activation(act)))


def _edge(op: str, channels: int, affine: bool = True) -> nn.Module:
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return ReLUConvBN(channels, channels, int(op[-1]), affine=affine)
    raise ValueError(f"no module for the cell op {op!r}")


class NB201CellModule(nn.Module):
    """The NAS-Bench-201 cell: node ``j`` is the sum of ``op(i, j)(node i)`` over ``i < j``; node 0 is
    the input, the last node the output. ``none`` edges contribute zeros (no module); a node without
    edges is zero. Only the ``used`` edges are computed (the others feed no path to the output); every
    edge that is not ``none`` has its module, so the parameters are the cell's."""

    def __init__(self, edges: dict[tuple[int, int], str], used: set[tuple[int, int]], channels: int,
                 nodes: int) -> None:
        super().__init__()
        self.nodes = nodes
        self.inputs: dict[int, list[tuple[int, str]]] = {j: [] for j in range(1, nodes)}
        for (i, j), op in edges.items():
            if op != "none":
                name = f"e{i}{j}"
                self.add_module(name, _edge(op, channels))
                if (i, j) in used:
                    self.inputs[j].append((i, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        for j in range(1, self.nodes):
            terms = [self._modules[name](states[i]) for i, name in self.inputs[j]]
            states.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return states[-1]


class NB201MixedCellModule(nn.Module):
    """The one-shot supernet's NAS-Bench-201 cell: edge ``e{i}{j}`` holds a module per op (``e01.nor_conv_3x3``;
    parameter-free ops too, ``none`` excepted), each with its own BatchNorm (affine or not).

    :meth:`select` picks a path, one op per edge (a :class:`~search_spaces.nb201.NB201Cell`): the forward pass then
    computes what that cell's :class:`NB201CellModule` computes, in the same order, with the chosen ops' modules
    (single-path one-shot training; Guo et al., 2020, "Single Path One-Shot Neural Architecture Search with
    Uniform Sampling", ECCV). Without a path, each edge sums all its ops (DARTS' mixed op with equal weights;
    Liu et al., 2019): what the analysis counts. :meth:`inherited` gives a path's weights under its cell's
    module names, a BatchNorm without affine parameters as scale 1 and shift 0.
    """

    def __init__(self, ops: tuple[str, ...], channels: int, nodes: int, affine: bool) -> None:
        super().__init__()
        self.nodes, self.channels, self.affine = nodes, channels, affine
        for j in range(1, nodes):
            for i in range(j):
                edge = nn.Module()
                for op in ops:
                    if op != "none":
                        edge.add_module(op, _edge(op, channels, affine))
                self.add_module(f"e{i}{j}", edge)
        self.all_ops: dict[int, list[tuple[int, str, str]]] = {
            j: [(i, f"e{i}{j}", op) for i in range(j) for op in ops if op != "none"] for j in range(1, nodes)}
        self.inputs = self.all_ops

    def select(self, cell: object | None) -> None:
        """Compute the path of ``cell`` (its ``edges()`` and ``used_edges()``), or every op (``None``)."""
        if cell is None:
            self.inputs = self.all_ops
            return
        edges, used = cell.edges(), cell.used_edges()  # type: ignore[attr-defined]
        self.inputs = {j: [] for j in range(1, self.nodes)}
        for (i, j), op in edges.items():
            if op != "none" and (i, j) in used:
                self.inputs[j].append((i, f"e{i}{j}", op))

    def inherited(self, cell: object) -> dict[str, torch.Tensor]:
        """The state of ``cell``'s :class:`NB201CellModule` taken from this cell's modules (copies)."""
        out: dict[str, torch.Tensor] = {}
        for (i, j), op in cell.edges().items():  # type: ignore[attr-defined]
            if op == "none":
                continue
            module = self._modules[f"e{i}{j}"]._modules[op]
            for key, tensor in module.state_dict().items():
                out[f"e{i}{j}.{key}"] = tensor.detach().clone()
            if isinstance(module, ReLUConvBN) and not self.affine:
                out[f"e{i}{j}.bn.weight"] = torch.ones(self.channels, device=module.conv.weight.device)
                out[f"e{i}{j}.bn.bias"] = torch.zeros(self.channels, device=module.conv.weight.device)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        for j in range(1, self.nodes):
            terms = [self._modules[edge]._modules[op](states[i]) for i, edge, op in self.inputs[j]]
            states.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return states[-1]


class NB201SplitCellModule(nn.Module):
    """A one-shot cell split on one edge (few-shot NAS; Zhao et al., 2021, "Few-shot Neural Architecture Search",
    ICML): one :class:`NB201MixedCellModule` per op of edge ``split`` (named by the op), each the cell of the
    sub-supernet of the paths that take that op there. While ``merged`` (before the split), every path uses the
    first op's copy, the one-shot cell; :meth:`unmerge` copies it into the others, which then train apart.
    Without a path, the copies' outputs are summed (what the analysis counts)."""

    def __init__(self, ops: tuple[str, ...], channels: int, nodes: int, affine: bool, split: tuple[int, int]) -> None:
        super().__init__()
        self.split, self.merged, self.active = split, True, ""  # the active copy's name ("": every copy)
        self.copies = tuple(ops)
        for op in ops:
            self.add_module(op, NB201MixedCellModule(ops, channels, nodes, affine))

    def _copy(self, cell: object) -> str:
        return self.copies[0] if self.merged else cell.edges()[self.split]  # type: ignore[attr-defined]

    def select(self, cell: object | None) -> None:
        """Compute the path of ``cell`` in its sub-supernet's copy (the shared one while merged), or every copy."""
        self.active = "" if cell is None else self._copy(cell)
        for op in self.copies:
            self._modules[op].select(cell if op == self.active else None)

    def inherited(self, cell: object) -> dict[str, torch.Tensor]:
        return self._modules[self._copy(cell)].inherited(cell)

    @torch.no_grad()
    def unmerge(self) -> None:
        """Split: every copy starts from the shared one's weights and statistics."""
        shared = self._modules[self.copies[0]].state_dict()
        for op in self.copies[1:]:
            self._modules[op].load_state_dict(shared)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active:
            return self._modules[self.active](x)
        outputs = [self._modules[op](x) for op in self.copies]
        return sum(outputs[1:], outputs[0])


class NB201ReductionModule(nn.Module):
    """NAS-Bench-201's residual reduction block: ``conv_b(conv_a(x)) + shortcut(x)`` with ReLU-conv-BN
    3x3 convolutions (the first of stride 2) and a 2x2/2 average pool + 1x1 convolution as shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(OrderedDict(pool=nn.AvgPool2d(2, 2, 0),
                                                  conv=nn.Conv2d(c_in, c_out, 1, bias=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


# --------------------------------------------------------------------------- DARTS (search_spaces.darts)


class SepConv(nn.Sequential):
    """DARTS' ``sep_conv_kxk``: [ReLU, depthwise kxk, pointwise 1x1, BatchNorm] twice, the first depthwise
    convolution of stride ``stride``, the second of stride 1."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, s in ((1, stride), (2, 1)):
            layers[f"act{i}"] = nn.ReLU(inplace=False)
            layers[f"dw{i}"] = nn.Conv2d(channels, channels, kernel, s, (kernel - 1) // 2, groups=channels, bias=False)
            layers[f"pw{i}"] = nn.Conv2d(channels, channels, 1, bias=False)
            layers[f"bn{i}"] = nn.BatchNorm2d(channels)
        super().__init__(layers)


class DilConv(nn.Sequential):
    """DARTS' ``dil_conv_kxk``: ReLU, depthwise kxk of dilation 2 (padding ``k - 1``), pointwise 1x1, BatchNorm."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__(OrderedDict(
            act=nn.ReLU(inplace=False),
            dw=nn.Conv2d(channels, channels, kernel, stride, kernel - 1, dilation=2, groups=channels, bias=False),
            pw=nn.Conv2d(channels, channels, 1, bias=False),
            bn=nn.BatchNorm2d(channels),
        ))


class FactorizedReduce(nn.Module):
    """DARTS' ``FactorizedReduce``: ReLU, two 1x1/2 convolutions to ``c_out / 2`` channels, the second on the
    map shifted by one pixel (``x[:, :, 1:, 1:]``), concatenated, BatchNorm. It halves an even map."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.act = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _darts_op(op: str, channels: int, stride: int) -> nn.Module:
    if op in ("sep_conv_3x3", "sep_conv_5x5"):
        return SepConv(channels, int(op[-1]), stride)
    if op in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels, int(op[-1]), stride)
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    raise ValueError(f"no module for the DARTS op {op!r}")


class DartsCellModule(nn.Module):
    """A DARTS cell (``Cell`` of DARTS' ``model.py``, eval form, no drop-path): ``pre0`` / ``pre1`` map the
    outputs of the two previous cells to ``channels`` (``FactorizedReduce`` for ``pre0`` after a reduction
    cell, ReLU-conv-BN 1x1 otherwise); node ``k`` (states ``k + 2``) is the sum of its two ops
    (``node{k}.op{j}``) on earlier states (0, 1: the preprocessed inputs); the output concatenates the four
    nodes. Ops on inputs 0 and 1 of a reduction cell have stride 2. ``none`` ops have no module and add
    nothing (a node of two is zeros); a preprocessing that no op reads is held (its parameters count) but
    not computed, as the analysis counts it."""

    def __init__(self, genotype: tuple[tuple[str, int], ...], c_pp: int, c_p: int, channels: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, channels) if reduction_prev else ReLUConvBN(c_pp, channels, 1)
        self.pre1 = ReLUConvBN(c_p, channels, 1)
        self.channels, self.stride = channels, 2 if reduction else 1
        self.terms: list[list[tuple[int, str]]] = []  # per node: (source state, op name) of its ops that are not none
        for k in range(len(genotype) // 2):
            node = nn.Module()
            for j, (op, source) in enumerate(genotype[2 * k: 2 * k + 2]):
                if op != "none":
                    node.add_module(f"op{j}", _darts_op(op, channels, self.stride if source < 2 else 1))
            self.add_module(f"node{k}", node)
            self.terms.append([(source, f"op{j}") for j, (op, source) in enumerate(genotype[2 * k: 2 * k + 2])
                               if op != "none"])
        self.reads = {source for terms in self.terms for source, _ in terms}

    def forward(self, s0: torch.Tensor | None, s1: torch.Tensor | None, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The cell's output; ``x`` is the cell stack's input and ``scale`` how many times the map has been
        halved before this cell's output: the shape of a node without ops comes from them (a shape read from
        the stack's input keeps no computation alive that the analysis leaves out)."""
        states: list[torch.Tensor | None] = [self.pre0(s0) if 0 in self.reads else None,
                                             self.pre1(s1) if 1 in self.reads else None]
        for k, terms in enumerate(self.terms):
            node = self._modules[f"node{k}"]
            values = [node._modules[op](states[source]) for source, op in terms]
            if values:
                states.append(values[0] + values[1] if len(values) == 2 else values[0])
            else:
                b, _, h, w = x.shape
                states.append(x.new_zeros(b, self.channels, h >> scale, w >> scale))
        return torch.cat(states[2:], dim=1)


class DartsCellsModule(nn.Module):
    """DARTS' stack of cells (``NetworkCIFAR.cells``): ``cell{i}`` is fed the outputs of the two cells before it
    (the stack's input for the first). ``cells`` lists ``(genotype, C_pp, C_p, C, reduction, reduction_prev)``
    per cell; ``live`` the cells whose output is read (the others are held, not computed)."""

    def __init__(self, cells: list[tuple[tuple[tuple[str, int], ...], int, int, int, bool, bool]],
                 live: list[bool]) -> None:
        super().__init__()
        self.plan: list[tuple[str, bool, int]] = []
        scale = 0
        for i, (spec, is_live) in enumerate(zip(cells, live, strict=True)):
            self.add_module(f"cell{i + 1}", DartsCellModule(*spec))
            scale += spec[4]
            self.plan.append((f"cell{i + 1}", is_live, scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states: list[torch.Tensor | None] = [x, x]
        for name, is_live, scale in self.plan:
            states.append(self._modules[name](states[-2], states[-1], x, scale) if is_live else None)
        out = states[-1]
        assert out is not None
        return out
