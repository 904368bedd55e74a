"""The ``nn.Module`` s of the DARTS space (:mod:`search_spaces.darts`): its ops, cells and stack of cells, and the
one-shot supernet's mixed cells (:class:`~search_spaces.darts.DartsMixedCells`).

Imported only when a model is built, so that listing or sampling the space needs no torch. Module names are the
layer names of the space's analysis (``stage1.block1.cell3.node2.op1``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from search_spaces.cell_modules import ReLUConvBN, batch_norm, inherited_state

__all__ = ["DartsCellModule", "DartsCellsModule", "DartsMixedCellsModule", "DilConv", "DilatedDepthwiseConv2d",
           "FactorizedReduce", "SepConv"]

#: per cell: (genotype, C_pp, C_p, C, reduction, reduction_prev), as :meth:`~search_spaces.darts.DartsCells.plan`
Plan = list[tuple[tuple[tuple[str, int], ...], int, int, int, bool, bool]]


class SepConv(nn.Sequential):
    """DARTS' ``sep_conv_kxk``: [ReLU, depthwise kxk, pointwise 1x1, BatchNorm] twice, the first depthwise
    convolution of stride ``stride``, the second of stride 1."""

    def __init__(self, channels: int, kernel: int, stride: int, affine: bool = True) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, s in ((1, stride), (2, 1)):
            layers[f"act{i}"] = nn.ReLU(inplace=False)
            layers[f"dw{i}"] = nn.Conv2d(channels, channels, kernel, s, (kernel - 1) // 2, groups=channels, bias=False)
            layers[f"pw{i}"] = nn.Conv2d(channels, channels, 1, bias=False)
            layers[f"bn{i}"] = batch_norm(channels, affine)
        super().__init__(layers)


class DilatedDepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution of dilation > 1 that computes on a CPU with its input and weight in the contiguous
    (NCHW) layout: PyTorch's CPU kernel for its weight gradient in bf16 returns garbage (values of 1e30 and more,
    or NaN) when the input or the weight is channels_last (measured with torch 2.14, stride 1), and a CPU trains
    in bf16 and channels_last when asked (``--amp bf16``; ``auto`` keeps a network with depthwise convolutions in
    float32 on a CPU: ``nasbox.train.recipe.use_bf16``). Same parameters and state as ``nn.Conv2d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        weight = self.weight.clone(memory_format=torch.contiguous_format)  # NCHW strides even where C_in is 1
        return self._conv_forward(x.contiguous(), weight, self.bias)


class DilConv(nn.Sequential):
    """DARTS' ``dil_conv_kxk``: ReLU, depthwise kxk of dilation 2 (padding ``k - 1``), pointwise 1x1, BatchNorm."""

    def __init__(self, channels: int, kernel: int, stride: int, affine: bool = True) -> None:
        super().__init__(OrderedDict(
            act=nn.ReLU(inplace=False),
            dw=DilatedDepthwiseConv2d(channels, channels, kernel, stride, kernel - 1, dilation=2, groups=channels,
                                      bias=False),
            pw=nn.Conv2d(channels, channels, 1, bias=False),
            bn=batch_norm(channels, affine),
        ))


class FactorizedReduce(nn.Module):
    """DARTS' ``FactorizedReduce``: ReLU, two 1x1/2 convolutions to ``c_out / 2`` channels, the second on the
    map shifted by one pixel (``x[:, :, 1:, 1:]``), concatenated, BatchNorm. It halves an even map."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.act = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, 0, bias=False)
        self.bn = batch_norm(c_out, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _darts_op(op: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    if op in ("sep_conv_3x3", "sep_conv_5x5"):
        return SepConv(channels, int(op[-1]), stride, affine)
    if op in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels, int(op[-1]), stride, affine)
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)
    raise ValueError(f"no module for the DARTS op {op!r}")


def _preprocessing(c_pp: int, c_p: int, channels: int, reduction_prev: bool, affine: bool) -> tuple[nn.Module, nn.Module]:
    """A cell's ``pre0`` (``FactorizedReduce`` after a reduction cell, else ReLU-conv-BN 1x1) and ``pre1``."""
    pre0 = FactorizedReduce(c_pp, channels, affine) if reduction_prev else ReLUConvBN(c_pp, channels, 1, affine=affine)
    return pre0, ReLUConvBN(c_p, channels, 1, affine=affine)


#: per node: (source state, module path under the cell) of each op it sums, in order
Terms = list[list[tuple[int, str]]]


class _CellPass(nn.Module):
    """What a DARTS cell computes: ``pre0``, ``pre1`` and, per node, the ops it sums (:meth:`route`); the forward
    pass of :class:`DartsCellModule` and :class:`DartsMixedCellModule`."""

    channels: int

    def route(self, terms: Terms) -> None:
        """Compute ``terms``: their modules and the inputs they read are looked up here, once, not per batch."""
        self._ops = [[(source, self.get_submodule(path)) for source, path in node] for node in terms]
        self._reads = {source for node in terms for source, _ in node}

    def forward(self, s0: torch.Tensor | None, s1: torch.Tensor | None, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The preprocessed inputs that some op reads, each node the sum of its ops in order (zeros of the node's
        shape where it has none), the nodes concatenated. ``x`` is the cell stack's input and ``scale`` how many
        times the map has been halved before this cell's output: the shape of a node without ops comes from them
        (a shape read from the stack's input keeps no computation alive that the analysis leaves out)."""
        states: list[torch.Tensor | None] = [self.pre0(s0) if 0 in self._reads else None,
                                             self.pre1(s1) if 1 in self._reads else None]
        for node in self._ops:
            values = [op(states[source]) for source, op in node]
            if values:
                states.append(sum(values[1:], values[0]))
            else:
                b, _, h, w = x.shape
                states.append(x.new_zeros(b, self.channels, h >> scale, w >> scale))
        return torch.cat(states[2:], dim=1)


class DartsCellModule(_CellPass):
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
        self.pre0, self.pre1 = _preprocessing(c_pp, c_p, channels, reduction_prev, True)
        self.channels, self.stride = channels, 2 if reduction else 1
        terms: Terms = []
        for k in range(len(genotype) // 2):
            node = nn.Module()
            for j, (op, source) in enumerate(genotype[2 * k: 2 * k + 2]):
                if op != "none":
                    node.add_module(f"op{j}", _darts_op(op, channels, self.stride if source < 2 else 1))
            self.add_module(f"node{k}", node)
            terms.append([(source, f"node{k}.op{j}") for j, (op, source) in enumerate(genotype[2 * k: 2 * k + 2])
                          if op != "none"])
        self.route(terms)


def _stack(module: nn.Module, x: torch.Tensor, plan: list[tuple[str, bool, int]]) -> torch.Tensor:
    """DARTS' stack of cells: each live cell fed the outputs of the two before it (the stack's input for the
    first); ``plan`` lists (name, live, scale) per cell."""
    states: list[torch.Tensor | None] = [x, x]
    for name, is_live, scale in plan:
        states.append(module._modules[name](states[-2], states[-1], x, scale) if is_live else None)
    out = states[-1]
    assert out is not None
    return out


class DartsCellsModule(nn.Module):
    """DARTS' stack of cells (``NetworkCIFAR.cells``): ``cell{i}`` is fed the outputs of the two cells before it
    (the stack's input for the first). ``cells`` lists ``(genotype, C_pp, C_p, C, reduction, reduction_prev)``
    per cell; ``live`` the cells whose output is read (the others are held, not computed)."""

    def __init__(self, cells: Plan, live: list[bool]) -> None:
        super().__init__()
        self.plan: list[tuple[str, bool, int]] = []
        scale = 0
        for i, (spec, is_live) in enumerate(zip(cells, live, strict=True)):
            self.add_module(f"cell{i + 1}", DartsCellModule(*spec))
            scale += spec[4]
            self.plan.append((f"cell{i + 1}", is_live, scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _stack(self, x, self.plan)


class DartsMixedCellModule(_CellPass):
    """The one-shot supernet's DARTS cell: node ``k`` holds, per earlier state ``s``, a module per op
    (``node{k}.s{s}.sep_conv_3x3``; ``none`` excepted), each with its own BatchNorms (affine or not); ``pre0`` and
    ``pre1`` are shared by every path. A path's op ``j`` of node ``k``, ``(op, s)``, computes with the module
    ``node{k}.s{s}.{op}`` (both of a node's ops use that one module when they are the same op on the same state):
    the weight sharing of DARTS' search network, whose edge from state ``s`` to node ``k`` holds every op. Without
    a path every op on every edge is summed, DARTS' mixed op with equal weights (what the analysis counts)."""

    def __init__(self, ops: tuple[str, ...], genotype_len: int, c_pp: int, c_p: int, channels: int, reduction: bool,
                 reduction_prev: bool, affine: bool) -> None:
        super().__init__()
        self.pre0, self.pre1 = _preprocessing(c_pp, c_p, channels, reduction_prev, affine)
        self.channels, self.reduction = channels, reduction
        self.every: Terms = []
        for k in range(genotype_len // 2):
            node = nn.Module()
            for s in range(k + 2):
                edge = nn.Module()
                for op in ops:
                    if op != "none":
                        edge.add_module(op, _darts_op(op, channels, 2 if reduction and s < 2 else 1, affine))
                node.add_module(f"s{s}", edge)
            self.add_module(f"node{k}", node)
            self.every.append([(s, f"node{k}.s{s}.{op}") for s in range(k + 2) for op in ops if op != "none"])
        self.route(self.every)

    def select(self, genotype: tuple[tuple[str, int], ...] | None) -> None:
        """Compute the path of ``genotype`` (this cell's ``(op, state)`` pairs, node by node), or every op."""
        self.route(self.every if genotype is None else [
            [(source, f"node{k}.s{source}.{op}") for op, source in genotype[2 * k: 2 * k + 2] if op != "none"]
            for k in range(len(self.every))])

    def inherited(self, genotype: tuple[tuple[str, int], ...]) -> dict[str, torch.Tensor]:
        """The state of ``genotype``'s :class:`DartsCellModule` taken from this cell's modules (copies)."""
        out = {**inherited_state(self.pre0, "pre0."), **inherited_state(self.pre1, "pre1.")}
        for i, (op, source) in enumerate(genotype):
            if op != "none":
                out.update(inherited_state(self.get_submodule(f"node{i // 2}.s{source}.{op}"), f"node{i // 2}.op{i % 2}."))
        return out


class DartsMixedCellsModule(nn.Module):
    """The one-shot supernet's stack of DARTS cells (:class:`~search_spaces.darts.DartsMixedCells`): the skeleton of
    :class:`DartsCellsModule` with every cell a :class:`DartsMixedCellModule`. :meth:`select` takes a path, a
    :class:`~search_spaces.darts.DartsCells` of the same skeleton: each cell then computes its normal or reduction
    genotype, and only the cells that path reads are computed, as in its standalone network."""

    def __init__(self, ops: tuple[str, ...], cells: Plan, affine: bool) -> None:
        super().__init__()
        self.plan: list[tuple[str, bool, int]] = []
        scale = 0
        for i, (genotype, *spec) in enumerate(cells):
            self.add_module(f"cell{i + 1}", DartsMixedCellModule(ops, len(genotype), *spec, affine))  # type: ignore[arg-type]
            scale += spec[3]
            self.plan.append((f"cell{i + 1}", True, scale))
        self.every, self.reductions = self.plan, [bool(spec[3]) for _, *spec in cells]

    def select(self, block: object | None) -> None:
        """Compute the path of ``block`` (a ``DartsCells``), or every op of every cell (``None``)."""
        if block is None:
            self.plan = self.every
        else:
            live = block.live()  # type: ignore[attr-defined]
            self.plan = [(name, is_live, scale) for (name, _, scale), is_live in zip(self.every, live, strict=True)]
        for (name, *_), reduction in zip(self.every, self.reductions, strict=True):
            self._modules[name].select(None if block is None else block.genotype(reduction))  # type: ignore[attr-defined]

    def inherited(self, block: object) -> dict[str, torch.Tensor]:
        """The state of ``block``'s :class:`DartsCellsModule`, each cell's taken from its mixed cell."""
        out: dict[str, torch.Tensor] = {}
        for (name, *_), reduction in zip(self.every, self.reductions, strict=True):
            cell = self._modules[name].inherited(block.genotype(reduction))  # type: ignore[attr-defined]
            out.update({f"{name}.{key}": tensor for key, tensor in cell.items()})
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _stack(self, x, self.plan)
