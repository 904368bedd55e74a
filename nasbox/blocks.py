"""Building blocks as plain ``nn.Module``s configured by keyword arguments.

Blocks never see the genotype (:mod:`nasbox.arch`); :mod:`nasbox.build` translates. Sub-
modules are named by role (``conv_pw``, ``conv_dw``, ``se``, ``conv_pwl``, ``shortcut``),
as in timm, and these names are the layer names of :mod:`nasbox.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ConvNormAct",
    "DepthwiseSeparable",
    "InceptionBlock",
    "InvertedResidual",
    "MinPool2d",
    "ResidualBlock",
    "SqueezeExcite",
    "make_activation",
    "make_pool",
]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01, inplace=True),
}


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


def make_pool(kind: str, kernel: int, stride: int) -> nn.Module:
    """Max, average or min pooling with padding ``(kernel - 1) // 2``."""
    padding = (kernel - 1) // 2
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

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
        bn: bool = True,
        bias: bool | None = None,
    ) -> None:
        bias = (not bn) if bias is None else bias
        layers: dict[str, nn.Module] = {
            "conv": nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=bias)
        }
        if bn:
            layers["bn"] = nn.BatchNorm2d(out_channels)
        if act is not None:
            layers["act"] = make_activation(act)
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)


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


class ResidualBlock(nn.Module):
    """Residual block (He et al., 2016, "Deep Residual Learning for Image Recognition").

    ``n_convs`` conv-BN layers (activation between them, the stride on the first), an
    optional SE on the residual branch, then ``act(branch + shortcut)``; the shortcut is a
    1x1 conv + BN projection when stride or channels change.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1,
        act: str = "relu", n_convs: int = 2, se_squeeze: int = 0,
    ) -> None:
        super().__init__()
        for i in range(n_convs):
            last = i == n_convs - 1
            self.add_module(
                f"conv{i + 1}",
                ConvNormAct(in_channels if i == 0 else out_channels, out_channels, kernel,
                            stride if i == 0 else 1, act=None if last else act),
            )
        self.n_convs = n_convs
        self.se = SqueezeExcite(out_channels, se_squeeze, act) if se_squeeze else None
        self.shortcut = (
            ConvNormAct(in_channels, out_channels, 1, stride, act=None)
            if stride != 1 or in_channels != out_channels
            else None
        )
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(self.n_convs):
            out = getattr(self, f"conv{i + 1}")(out)
        if self.se is not None:
            out = self.se(out)
        return self.act(out + (x if self.shortcut is None else self.shortcut(x)))


class DepthwiseSeparable(nn.Module):
    """Depthwise separable convolution (Howard et al., 2017, "MobileNets").

    Depthwise kxk conv-BN-act, optional SE, pointwise 1x1 conv-BN-act.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1,
        act: str = "relu", se_squeeze: int = 0,
    ) -> None:
        super().__init__()
        self.conv_dw = ConvNormAct(in_channels, in_channels, kernel, stride, groups=in_channels, act=act)
        self.se = SqueezeExcite(in_channels, se_squeeze, act) if se_squeeze else nn.Identity()
        self.conv_pw = ConvNormAct(in_channels, out_channels, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_pw(self.se(self.conv_dw(x)))


class InvertedResidual(nn.Module):
    """Inverted residual with linear bottleneck (Sandler et al., 2018, "MobileNetV2"), and
    with SE the MBConv of EfficientNet (Tan & Le, 2019).

    1x1 expansion conv-BN-act (absent when ``hidden == in_channels``), depthwise kxk
    conv-BN-act, optional SE, 1x1 linear projection conv-BN; identity shortcut when the
    stride is 1 and the channels agree.
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int, kernel: int = 3, stride: int = 1,
        act: str = "relu6", se_squeeze: int = 0,
    ) -> None:
        super().__init__()
        self.conv_pw = ConvNormAct(in_channels, hidden, 1, act=act) if hidden != in_channels else nn.Identity()
        self.conv_dw = ConvNormAct(hidden, hidden, kernel, stride, groups=hidden, act=act)
        self.se = SqueezeExcite(hidden, se_squeeze, act) if se_squeeze else nn.Identity()
        self.conv_pwl = ConvNormAct(hidden, out_channels, 1, act=None)
        self.use_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
        return out + x if self.use_shortcut else out


class _Branch(nn.Sequential):
    def __init__(self, in_channels: int, reduce: int, out_channels: int, kernel: int, act: str) -> None:
        super().__init__()
        self.reduce = ConvNormAct(in_channels, reduce, 1, act=act)
        self.conv = ConvNormAct(reduce, out_channels, kernel, act=act)


class _PoolBranch(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, act: str) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, 1, 1)
        self.proj = ConvNormAct(in_channels, out_channels, 1, act=act)


class InceptionBlock(nn.Module):
    """Inception module (Szegedy et al., 2015, "Going Deeper with Convolutions").

    Four parallel branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> k5 x k5;
    3x3/1 max-pool -> 1x1. Every conv is followed by BatchNorm and the activation, as in
    torchvision's ``GoogLeNet`` (which uses ``k5 = 3``; the paper ``k5 = 5``).
    """

    def __init__(
        self, in_channels: int, b1: int, b3_reduce: int, b3: int, b5_reduce: int, b5: int,
        pool_proj: int, k5: int = 5, act: str = "relu",
    ) -> None:
        super().__init__()
        self.branch1 = ConvNormAct(in_channels, b1, 1, act=act)
        self.branch3 = _Branch(in_channels, b3_reduce, b3, 3, act)
        self.branch5 = _Branch(in_channels, b5_reduce, b5, k5, act)
        self.branch_pool = _PoolBranch(in_channels, pool_proj, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class Resize(nn.Module):
    """Bilinear resize of the input to ``size`` x ``size`` (resolution scaling)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"
