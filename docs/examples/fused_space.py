"""A search space with a block kind of its own, in one file: ``nasbox search --space docs/examples/fused_space.py:FusedSpace``.

:class:`FusedMBConv` is EfficientNetV2's fused inverted residual (Tan & Le, 2021,
"EfficientNetV2: Smaller Models and Faster Training"): the expansion 1x1 and the
depthwise kxk of an MBConv are fused into one regular kxk convolution. It is written with
nasbox's primitives (:meth:`layers`), so its analysis, module, encoding and latency unit
come from that one description. Importing this file registers the kind, so genotype JSON,
encodings, the report's layer pages and export know it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nasbox.model import FC, Architecture, Head, Stage, register_block
from nasbox.model.blocks import Block, ConvBlock
from nasbox.model.ops import SE, Conv, Op, Seq
from nasbox.spaces import SearchSpace, register_space


@register_block
@dataclass(frozen=True)
class FusedMBConv(Block):
    """Fused MBConv: kxk conv to ``in * expansion`` channels -> (SE) -> 1x1 linear projection,
    plus the identity when the shape is kept. Its fields have the conventional names, so
    ``Block`` checks them (out_channels, kernel, stride, expansion, act, se_ratio)."""

    type: ClassVar[str] = "fused_mbconv"
    tag: ClassVar[str] = "fir"
    tokens: ClassVar[dict[str, str]] = {"out_channels": "c", "kernel": "k", "stride": "s", "expansion": "e",
                                        "se_ratio": "se"}

    out_channels: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 4.0
    act: str = "silu"
    se_ratio: float = 0.0

    def layers(self, in_channels: int) -> Op:
        hidden = int(round(in_channels * self.expansion))
        layers: list[tuple[str, Op]] = [("conv_exp", Conv(hidden, self.kernel, self.stride, act=self.act))]
        if self.se_ratio > 0:
            layers.append(("se", SE(max(1, int(in_channels * self.se_ratio)), self.act)))
        layers.append(("conv_pwl", Conv(self.out_channels, 1)))
        keeps_shape = self.stride == 1 and in_channels == self.out_channels
        return Seq(tuple(layers), shortcut="identity" if keeps_shape else None)


@register_space
@dataclass(frozen=True)
class FusedSpace(SearchSpace):
    """A stem, then ``stages`` stages of fused MBConvs (the first of each strided), a global pool."""

    stages: int = 3
    depths: tuple[int, ...] = (1, 2)
    widths: tuple[int, ...] = (8, 16)
    expansions: tuple[float, ...] = (1.0, 4.0)
    kernels: tuple[int, ...] = (3,)

    name: ClassVar[str] = "fused"
    description: ClassVar[str] = "EfficientNetV2-style fused MBConv stages (an example of a user's own block kind)"

    def sample(self, trial: Any) -> Architecture:
        size = min(self.input_shape[1:])
        stages = []
        for i in range(1, self.stages + 1):
            depth = trial.suggest_categorical(f"stage{i}.depth", self.depths)
            width = trial.suggest_categorical(f"stage{i}.width", self.widths)
            expansion = trial.suggest_categorical(f"stage{i}.expansion", self.expansions)
            kernel = trial.suggest_categorical(f"stage{i}.kernel", self.kernels)
            stride = 2 if size >= 2 else 1
            size = (size + 1) // 2 if stride == 2 else size
            blocks = tuple(FusedMBConv(width, kernel, stride if j == 0 else 1, expansion) for j in range(depth))
            stages.append(Stage(blocks))
        stem = Stage((ConvBlock(8, 3, 1, "silu"),))
        return Architecture(self.input_shape, self.num_classes, tuple(stages), Head("gap", (FC(32, "silu"),)),
                            stem=stem)


__all__ = ["FusedMBConv", "FusedSpace"]
