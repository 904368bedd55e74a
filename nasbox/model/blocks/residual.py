"""The residual block of ResNet (He et al., 2016), with optional SE (SE-ResNet, Hu et al., 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasbox.model.blocks.base import Block, register_block
from nasbox.model.ops import SE, Conv, Op, Seq

__all__ = ["ResidualBlock"]


@register_block
@dataclass(frozen=True)
class ResidualBlock(Block):
    """ResNet basic block generalised to ``n_convs`` convolutions ("Deep Residual Learning
    for Image Recognition", He et al., 2016).

    ``x -> [conv-BN-act] * (n_convs - 1) -> conv-BN -> (SE) -> + shortcut(x) -> act``.
    The first convolution carries the stride; the shortcut is the identity when the shape
    is kept and a 1x1 conv + BN projection when stride or channels change. With
    ``se_ratio > 0`` an SE module ("Squeeze-and-Excitation Networks", Hu et al., 2018)
    recalibrates the residual branch (SE-ResNet uses 1/16). The last BatchNorm of the
    branch starts at zero, so the block begins as its shortcut.
    """

    type: ClassVar[str] = "residual"
    tag: ClassVar[str] = "rb"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "kernel": "k", "stride": "s", "n_convs": "n",
                                        "se_ratio": "se"}

    out_channels: int
    kernel: int = 3
    stride: int = 1
    act: str = "relu"
    n_convs: int = 2
    se_ratio: float = 0.0

    def se_channels(self) -> int:
        """SENet's squeeze width, from the block's output: ``max(1, int(out * se_ratio))``."""
        return max(1, int(self.out_channels * self.se_ratio))

    def layers(self, in_channels: int) -> Op:
        convs = [(f"conv{i + 1}", Conv(self.out_channels, self.kernel, self.stride if i == 0 else 1,
                                       act=None if i == self.n_convs - 1 else self.act))
                 for i in range(self.n_convs)]
        if self.se_ratio > 0:
            convs.append(("se", SE(self.se_channels(), self.act)))
        keeps_shape = self.stride == 1 and in_channels == self.out_channels
        shortcut = "identity" if keeps_shape else Conv(self.out_channels, 1, self.stride)
        return Seq(tuple(convs), shortcut=shortcut, post_act=self.act, zero_init_last=True)
