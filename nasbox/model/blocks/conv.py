"""A plain convolution block: Conv -> BatchNorm -> activation (VGG, AlexNet, the seed CNN)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasbox.model.blocks.base import Block, register_block
from nasbox.model.ops import Conv, Op, default_bias

__all__ = ["ConvBlock"]


@register_block
@dataclass(frozen=True)
class ConvBlock(Block):
    """Conv -> BatchNorm -> activation (bias only when there is no BatchNorm).

    Args:
        out_channels: K, the number of filters.
        kernel: F, an odd filter size (1, 3, 5, 7; 11 for AlexNet's first layer).
        stride: S.
        act: activation after the convolution (``None`` for a linear projection).
        bn: BatchNorm after the convolution.
        bias: a conv bias even before BatchNorm (torchvision's VGG-BN has one); the
            default ``None`` means "bias exactly when there is no BatchNorm".
    """

    type: ClassVar[str] = "conv"
    tag: ClassVar[str] = "cn"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "kernel": "k", "stride": "s"}
    flags: ClassVar[dict[str, dict]] = {"bn": {False: "nobn"}, "bias": {True: "bias", False: "nobias"}}

    out_channels: int
    kernel: int = 3
    stride: int = 1
    act: str | None = "relu"
    bn: bool = True
    bias: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.bn, bool):
            raise ValueError(f"bn must be a bool, got bn={self.bn!r}")
        if self.bias is not None and not isinstance(self.bias, bool):
            raise ValueError(f"bias must be a bool or None, got bias={self.bias!r}")
        if self.bias == default_bias(self.bn):  # the explicit value equals the automatic one
            object.__setattr__(self, "bias", None)

    @property
    def has_bias(self) -> bool:
        return default_bias(self.bn) if self.bias is None else self.bias

    def layers(self, in_channels: int) -> Op:
        return Conv(self.out_channels, self.kernel, self.stride, bn=self.bn, act=self.act, bias=self.bias)
