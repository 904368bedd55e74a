"""The depthwise separable convolution of MobileNetV1 (Howard et al., 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasbox.model.blocks.base import Block, register_block
from nasbox.model.ops import SE, Conv, Op, Seq

__all__ = ["DepthwiseSeparable"]


@register_block
@dataclass(frozen=True)
class DepthwiseSeparable(Block):
    """Depthwise separable convolution ("MobileNets", Howard et al., 2017).

    ``depthwise kxk conv-BN-act -> (SE) -> pointwise 1x1 conv-BN-act``; no shortcut.
    """

    type: ClassVar[str] = "dwsep"
    tag: ClassVar[str] = "ds"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "kernel": "k", "stride": "s", "se_ratio": "se"}

    out_channels: int
    kernel: int = 3
    stride: int = 1
    act: str = "relu"
    se_ratio: float = 0.0

    def se_channels(self, in_channels: int) -> int:
        """EfficientNet's squeeze width, from the block's input: ``max(1, int(in * se_ratio))``."""
        return max(1, int(in_channels * self.se_ratio))

    def layers(self, in_channels: int) -> Op:
        layers = [("conv_dw", Conv(in_channels, self.kernel, self.stride, depthwise=True, act=self.act))]
        if self.se_ratio > 0:
            layers.append(("se", SE(self.se_channels(in_channels), self.act)))
        layers.append(("conv_pw", Conv(self.out_channels, 1, act=self.act)))
        return Seq(tuple(layers))
