"""The inverted residual of MobileNetV2 (Sandler et al., 2018) and, with SE, EfficientNet's MBConv."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasbox.model.blocks.base import Block, register_block
from nasbox.model.ops import SE, Conv, Op, Seq

__all__ = ["InvertedResidual"]


@register_block
@dataclass(frozen=True)
class InvertedResidual(Block):
    """Inverted residual with a linear bottleneck ("MobileNetV2", Sandler et al., 2018), and
    with SE the MBConv of EfficientNet ("EfficientNet", Tan & Le, 2019).

    ``1x1 expand conv-BN-act (absent when the hidden width equals the input's) ->
    depthwise kxk conv-BN-act -> (SE) -> 1x1 linear projection conv-BN``, plus the
    identity when ``stride == 1`` and input and output channels agree.
    """

    type: ClassVar[str] = "mbconv"
    tag: ClassVar[str] = "ir"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "kernel": "k", "stride": "s", "expansion": "e",
                                        "se_ratio": "se"}

    out_channels: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 6.0
    act: str = "relu6"
    se_ratio: float = 0.0

    def hidden_channels(self, in_channels: int) -> int:
        """The expanded width, torchvision's ``round(in * expansion)``."""
        return int(round(in_channels * self.expansion))

    def se_channels(self, in_channels: int) -> int:
        """EfficientNet's squeeze width, from the block's input: ``max(1, int(in * se_ratio))``."""
        return max(1, int(in_channels * self.se_ratio))

    def layers(self, in_channels: int) -> Op:
        hidden = self.hidden_channels(in_channels)
        layers = []
        if hidden != in_channels:
            layers.append(("conv_pw", Conv(hidden, 1, act=self.act)))
        layers.append(("conv_dw", Conv(hidden, self.kernel, self.stride, depthwise=True, act=self.act)))
        if self.se_ratio > 0:
            layers.append(("se", SE(self.se_channels(in_channels), self.act)))
        layers.append(("conv_pwl", Conv(self.out_channels, 1)))
        keeps_shape = self.stride == 1 and in_channels == self.out_channels
        return Seq(tuple(layers), shortcut="identity" if keeps_shape else None)
