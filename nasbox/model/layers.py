"""The primitives of :mod:`nasbox.model.ops` as ``nn.Module`` s, and :func:`realize`.

Modules are named by role, as in timm (``conv``, ``bn``, ``act`` inside a
:class:`ConvNormAct`; a block's own names, ``conv_pw``, ``conv_dw``, ``se``, ``conv_pwl``,
``shortcut``, come from its :meth:`~nasbox.model.blocks.Block.layers`), and these names are
the layer names of the analysis.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from nasbox.model.checks import ACTIVATIONS
from nasbox.model.ops import SE, Concat, Conv, Op, Pool, Seq

__all__ = [
    "ConcatModule",
    "ConvNormAct",
    "MinPool2d",
    "Resize",
    "SeqModule",
    "SqueezeExcite",
    "make_activation",
    "make_pool",
    "realize",
]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01, inplace=True),
}
if set(_ACTIVATIONS) != set(ACTIVATIONS):  # the genotype's list is the one list; this maps it
    raise ImportError(f"activation modules {sorted(_ACTIVATIONS)} do not match the genotype's {sorted(ACTIVATIONS)}")


def make_activation(name: str | None) -> nn.Module:
    """An activation module by name; ``None`` gives ``nn.Identity``."""
    if name is None:
        return nn.Identity()
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation, got {name=}") from None


class MinPool2d(nn.Module):
    """Min pooling, ``-maxpool(-x)``: keeps the weakest response in each window."""

    def __init__(self, kernel_size: int, stride: int, padding: int = 0) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.pool(-x)


def make_pool(kind: str, kernel: int, stride: int, padding: int | None = None) -> nn.Module:
    """Max, average or min pooling with padding ``(kernel - 1) // 2`` unless given."""
    padding = (kernel - 1) // 2 if padding is None else padding
    if kind == "max":
        return nn.MaxPool2d(kernel, stride, padding)
    if kind == "avg":
        return nn.AvgPool2d(kernel, stride, padding, count_include_pad=False)
    if kind == "min":
        return MinPool2d(kernel, stride, padding)
    raise ValueError(f"unknown pool kind, got {kind=}")


class ConvNormAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation, like torchvision's ``Conv2dNormActivation``.

    Padding ``(kernel - 1) // 2``; the convolution has a bias only without a norm, unless
    ``bias`` says otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: str | None = "relu", bn: bool = True, bias: bool | None = None) -> None:
        super().__init__()
        bias = Conv(out_channels, kernel, bn=bn, bias=bias).has_bias
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups,
                                          bias=bias))
        if bn:
            self.add_module("bn", nn.BatchNorm2d(out_channels))
        if act is not None:
            self.add_module("act", make_activation(act))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., 2018, "Squeeze-and-Excitation Networks").

    Global average pool -> 1x1 conv to ``squeeze`` -> activation -> 1x1 conv back ->
    sigmoid gate multiplied onto the input.
    """

    def __init__(self, channels: int, squeeze: int, act: str = "relu") -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = make_activation(act)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.act(self.fc1(self.pool(x))))
        return x * torch.sigmoid(scale)


class SeqModule(nn.Module):
    """Named layers in order, then ``+ shortcut(x)`` (identity or a projection), then an activation.

    Children: the layers under their names, then ``shortcut`` (a projection) and ``act``.
    """

    def __init__(self, layers: list[tuple[str, nn.Module]], shortcut: nn.Module | str | None = None,
                 post_act: str | None = None, zero_init_last: bool = False) -> None:
        super().__init__()
        self.order = [name for name, _ in layers]
        for name, module in layers:
            self.add_module(name, module)
        self.identity = shortcut == "identity"
        self.shortcut = shortcut if isinstance(shortcut, nn.Module) else None
        self.act = make_activation(post_act) if post_act else None
        self.zero_init_last = zero_init_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self.order:
            out = self._modules[name](out)
        if self.identity:
            out = out + x
        elif self.shortcut is not None:
            out = out + self.shortcut(x)
        return out if self.act is None else self.act(out)


class ConcatModule(nn.Module):
    """Named branches on the same input, concatenated on channels."""

    def __init__(self, branches: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.order = [name for name, _ in branches]
        for name, module in branches:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._modules[name](x) for name in self.order], 1)


class Resize(nn.Module):
    """Bilinear resize of the input to ``size`` x ``size`` (resolution scaling)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def realize(op: Op, in_channels: int) -> tuple[nn.Module, int]:
    """The module of a tree of primitives fed ``in_channels`` channels, and its output channels."""
    if isinstance(op, Conv):
        out, groups = (in_channels, in_channels) if op.depthwise else (op.out, 1)
        return ConvNormAct(in_channels, out, op.kernel, op.stride, groups, op.act, op.bn, op.has_bias), out
    if isinstance(op, SE):
        return SqueezeExcite(in_channels, op.squeeze, op.act), in_channels
    if isinstance(op, Pool):
        return make_pool(op.kind, op.kernel, op.stride, op.padding), in_channels
    if isinstance(op, Seq):
        layers, channels = [], in_channels
        for name, child in op.layers:
            module, channels = realize(child, channels)
            layers.append((name, module))
        shortcut = realize(op.shortcut, in_channels)[0] if isinstance(op.shortcut, Conv) else op.shortcut
        return SeqModule(layers, shortcut, op.post_act, op.zero_init_last), channels
    if isinstance(op, Concat):
        branches = [(name, realize(child, in_channels)) for name, child in op.branches]
        return ConcatModule([(name, m) for name, (m, _) in branches]), sum(c for _, (_, c) in branches)
    raise TypeError(f"not a primitive layer: {op!r}")
