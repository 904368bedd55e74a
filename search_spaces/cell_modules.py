"""The ``nn.Module`` s of the cell-based spaces (:mod:`search_spaces.nb201`, :mod:`search_spaces.darts`).

Imported only when a model is built, so that listing or sampling the spaces needs no torch.
Module names are the layer names of the spaces' analyses (``stage1.block2.e01``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from nasbox.model.layers import make_activation

__all__ = ["BNAct", "NB201CellModule", "NB201ReductionModule", "ReLUConvBN"]


class ReLUConvBN(nn.Sequential):
    """ReLU -> convolution (no bias) -> BatchNorm: NAS-Bench-201's ``nor_conv`` and DARTS' preprocessing."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(OrderedDict(
            act=nn.ReLU(inplace=False),
            conv=nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False),
            bn=nn.BatchNorm2d(c_out),
        ))


class BNAct(nn.Sequential):
    """BatchNorm -> activation (NAS-Bench-201's ``lastact`` before the global pool)."""

    def __init__(self, channels: int, act: str) -> None:
        super().__init__(OrderedDict(bn=nn.BatchNorm2d(channels), act=make_activation(act)))


def _edge(op: str, channels: int) -> nn.Module:
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return ReLUConvBN(channels, channels, int(op[-1]))
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
