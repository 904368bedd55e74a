"""The ``nn.Module`` s of NAS-Bench-201 (:mod:`search_spaces.nb201`) and what the cell spaces share (DARTS' own are
:mod:`search_spaces.darts_modules`).

Imported only when a model is built, so that listing or sampling the spaces needs no torch.
Module names are the layer names of the spaces' analyses (``stage1.block2.e01``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from nasbox.model.layers import make_activation

__all__ = ["BNAct", "NB201CellModule", "NB201MixedCellModule", "NB201ReductionModule", "NB201SplitCellModule",
           "NonAffineBatchNorm2d", "ReLUConvBN", "batch_norm", "inherited_state"]


class ReLUConvBN(nn.Sequential):
    """ReLU -> convolution (no bias) -> BatchNorm: NAS-Bench-201's ``nor_conv`` and DARTS' preprocessing."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True) -> None:
        super().__init__(OrderedDict(
            act=nn.ReLU(inplace=False),
            conv=nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False),
            bn=batch_norm(c_out, affine),
        ))


class NonAffineBatchNorm2d(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the channels of a 4-D input without a learned scale and shift (``affine=False``): a
    class of its own, so that initialisation that sets ``BatchNorm2d`` scales passes it by."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=False)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected a 4-D input, got {input.dim()=}")


def batch_norm(channels: int, affine: bool = True) -> nn.Module:
    """A 2-D BatchNorm, with a learned scale and shift or (a one-shot supernet's) without."""
    return nn.BatchNorm2d(channels) if affine else NonAffineBatchNorm2d(channels)


def inherited_state(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """Copies of ``module``'s state under ``prefix``, as a standalone network's module of affine BatchNorms holds it:
    a BatchNorm without affine parameters becomes one of scale 1 and shift 0, which computes the same."""
    out = {f"{prefix}{key}": tensor.detach().clone() for key, tensor in module.state_dict().items()}
    for name, sub in module.named_modules():
        if isinstance(sub, NonAffineBatchNorm2d):
            at = f"{prefix}{name}." if name else prefix
            out[f"{at}weight"] = torch.ones(sub.num_features, device=sub.running_mean.device)
            out[f"{at}bias"] = torch.zeros(sub.num_features, device=sub.running_mean.device)
    return out


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
            if op != "none":
                out.update(inherited_state(self._modules[f"e{i}{j}"]._modules[op], f"e{i}{j}."))
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
