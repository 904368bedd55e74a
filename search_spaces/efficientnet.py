"""The EfficientNet space: MBConv stages with compound width, depth and resolution scaling.

Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks": the B0 plan of MBConv blocks (inverted residuals, Sandler et al., 2018, with
squeeze-and-excitation, Hu et al., 2018, ratio 1/4 of the block's input channels, and
SiLU), scaled by a width multiplier, a depth multiplier and a resolution multiplier.
Each multiplier is a categorical choice, so that the search explores the compound
scaling of the paper (phi-like steps) around the B0 baseline.

Layout of a candidate::

    resize: the input is resized (bilinear) to R x R, R = round(short side * res_mult);
          no resize when R x R is the input's own size
    stem: 3x3 conv to make_divisible(32 * width_mult), stride 2 when R >= large_input,
          stride 1 for small (CIFAR/MNIST-sized) inputs
    stage1 .. stage7: ceil(d_i * depth_mult) MBconv blocks of make_divisible(c_i *
          width_mult) channels; the first carries B0's stride (1 2 2 2 1 2 1) while the map
          can still halve, otherwise stride 1
    last: 1x1 conv to last_ratio * (last stage's channels) (1280 at width 1.0)
    head: global average pool -> dropout -> linear classifier

With width, depth and resolution multipliers 1.0, B0's kernels (3 3 5 3 5 5 3) and
expansion 6, a 224x224 candidate is exactly EfficientNet-B0 (without stochastic depth).

Parameters (stable names, all drawn on every trial): ``width_mult``, ``depth_mult``,
``res_mult``, ``stage{i}.kernel`` for ``i = 1 .. len(channels)`` and
``stage{i}.expansion`` for ``i = 2 .. len(channels)`` (stage 1 uses ``first_expansion``,
1 as in B0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nasbox.errors import SpaceError
from nasbox.model.arch import ACTIVATIONS, Architecture, Head, Stage
from nasbox.model.blocks import ConvBlock, InvertedResidual
from nasbox.spaces import SearchSpace, register_space
from search_spaces.mobilenet import adapt_stride, check_common, make_divisible

__all__ = ["EfficientNetSpace"]


@register_space
@dataclass(frozen=True)
class EfficientNetSpace(SearchSpace):
    """EfficientNet-B0 MBConv stages with compound scaling (Tan & Le, 2019).

    Parameters: ``width_mult``, ``depth_mult``, ``res_mult``, ``stage{i}.kernel``
    (``i = 1 .. len(channels)``), ``stage{i}.expansion`` (``i = 2 .. len(channels)``).

    Args:
        width_mults: width multipliers to choose from; widths are
            ``make_divisible(c * width_mult, 8)``.
        depth_mults: depth multipliers; stage ``i`` has ``ceil(depths[i] * depth_mult)``
            blocks.
        res_mults: resolution multipliers; the input is resized to
            ``round(short side * res_mult)`` pixels square.
        kernels: depthwise filter sizes, chosen per stage (odd).
        expansions: expansion ratios of stages 2+, chosen per stage.
        first_expansion: expansion ratio of stage 1 (B0: 1, no expansion conv).
        channels: B0's base output channels per stage.
        depths: B0's base number of blocks per stage.
        strides: stride of each stage's first block.
        stem_channels: base channels of the stem conv.
        last_ratio: the last 1x1 conv has ``last_ratio`` times the last stage's channels.
        se_ratio: SE squeeze ratio relative to the block's input channels (1/4).
        act: activation of the whole network (SiLU, i.e. Swish).
        dropout: dropout before the classifier (B0: 0.2).
        min_map: a stride-2 layer is used only while its output map is at least this
            many pixels on the short side; otherwise it keeps stride 1.
        large_input: resolutions of at least this many pixels get a stride-2 stem,
            smaller ones a stride-1 stem.
    """

    width_mults: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.1)
    depth_mults: tuple[float, ...] = (0.5, 0.75, 1.0, 1.1, 1.2)
    res_mults: tuple[float, ...] = (1.0, 1.15, 1.3)
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[float, ...] = (4.0, 6.0)
    first_expansion: float = 1.0
    channels: tuple[int, ...] = (16, 24, 40, 80, 112, 192, 320)
    depths: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)
    strides: tuple[int, ...] = (1, 2, 2, 2, 1, 2, 1)
    stem_channels: int = 32
    last_ratio: int = 4
    se_ratio: float = 0.25
    act: str = "silu"
    dropout: float = 0.2
    min_map: int = 2
    large_input: int = 64

    name = "efficientnet"
    description = "EfficientNet MBConv+SE stages: compound width/depth/resolution scaling, per-stage kernel, expansion"
    elastic = {"width_mult": "width", "depth_mult": "depth", "res_mult": "resolution", "stage*.kernel": "kernel",
               "stage*.expansion": "expansion"}
    rules = (
        "compound scaling: depth ceil(d * depth_mult), width make_divisible(c * width_mult, 8), "
        "resolution round(size * res_mult) (Tan & Le 2019)",
        "every block is MBConv with SE (ratio 1/4 of its input channels)",
        "stride 2 only while the map stays >= min_map, so small inputs end on about 2x2",
    )

    def validate(self) -> None:
        check_common(
            self,
            ("width_mults", "depth_mults", "res_mults", "expansions", "kernels"),
            ("stem_channels", "last_ratio", "min_map", "large_input"),
            ("channels", "depths", "strides"),
        )
        for name in ("depth_mults", "res_mults"):
            bad = [v for v in getattr(self, name) if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0]
            if bad:
                raise SpaceError(f"{name} must be numbers > 0, got {bad}")
        first = self.first_expansion
        if isinstance(first, bool) or not isinstance(first, (int, float)) or first < 1:
            raise SpaceError(f"first_expansion must be a number >= 1, got first_expansion={first!r}")
        if self.act not in ACTIVATIONS:
            raise SpaceError(f"act must be one of {', '.join(ACTIVATIONS)}, got act={self.act!r}")

    def sample(self, trial: Any) -> Architecture:
        width_mult = trial.suggest_categorical("width_mult", self.width_mults)
        depth_mult = trial.suggest_categorical("depth_mult", self.depth_mults)
        res_mult = trial.suggest_categorical("res_mult", self.res_mults)
        _, h, w = self.input_shape
        resolution: int | None = max(1, round(min(h, w) * res_mult))
        if res_mult == 1 or (resolution, resolution) == (h, w):
            resolution = None  # no resize: the input is used as it is
        size = (h, w) if resolution is None else (resolution, resolution)
        stem_stride = 2 if min(size) >= self.large_input else 1
        stem_stride, size = adapt_stride(size, 3, stem_stride, self.min_map)
        stem = Stage((ConvBlock(make_divisible(self.stem_channels * width_mult), 3, stem_stride, self.act),))
        stages = []
        for i, (c, d, s) in enumerate(zip(self.channels, self.depths, self.strides, strict=True), start=1):
            k = trial.suggest_categorical(f"stage{i}.kernel", self.kernels)
            t = trial.suggest_categorical(f"stage{i}.expansion", self.expansions) if i > 1 else self.first_expansion
            stride, size = adapt_stride(size, k, s, self.min_map)
            out = make_divisible(c * width_mult)
            n = math.ceil(d * depth_mult)
            stages.append(Stage(tuple(
                InvertedResidual(out, k, stride if j == 0 else 1, float(t), self.act, float(self.se_ratio))
                for j in range(n)
            )))
        last = self.last_ratio * make_divisible(self.channels[-1] * width_mult)
        stages.append(Stage((ConvBlock(last, 1, 1, self.act),)))
        return Architecture(self.input_shape, self.num_classes, tuple(stages), Head("gap", (), self.dropout), stem,
                            resolution)
