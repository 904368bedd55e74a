"""The MobileNetV2 space: stages of inverted residual blocks.

Sandler et al., 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (the
inverted residual with a linear bottleneck, the width multiplier, the stage plan
``t, c, n, s``); Howard et al., 2019, "Searching for MobileNetV3" (Hardswish, SE in
inverted residuals with squeeze ratio 1/4).

Layout of a candidate::

    stem: 3x3 conv, make_divisible(stem_channels * width_mult), stride 2 for inputs of at
          least large_input px, 1 for small (CIFAR/MNIST-sized) ones
    stage1 .. stage7: depth_i inverted residual blocks with make_divisible(c_i * width_mult)
          channels; the first block carries the stage's stride (MobileNetV2's 1 2 2 2 1 2 1)
          while the map can still halve, otherwise stride 1
    last: 1x1 conv to make_divisible(last_channels * max(1, width_mult)) channels
    head: global average pool -> dropout -> linear classifier

With the defaults a 32x32 input ends on a 2x2 map (32, 16, 8, 4, 2) and a 224x224 one on
7x7, as in the paper. The default ``depth_max=3`` keeps candidates cheap; with
``depth_max=4``, MobileNetV2's depths ``1 2 3 4 3 3 1``, expansion 6 (1 in stage 1),
kernel 3, ReLU6, no SE and width 1.0, a 224x224 candidate is exactly MobileNetV2.

Parameters (stable names, all drawn on every trial): ``width_mult``, ``act``, and
``stage{i}.expansion``, ``stage{i}.kernel``, ``stage{i}.depth``, ``stage{i}.se`` for
``i = 1 .. len(channels)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasbox.errors import SpaceError
from nasbox.model.analysis import conv_out
from nasbox.model.arch import ACTIVATIONS, Architecture, Head, Stage
from nasbox.model.blocks import ConvBlock, InvertedResidual
from nasbox.spaces import SearchSpace, register_space

__all__ = ["MobileNetSpace", "adapt_stride", "check_common", "make_divisible"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor``, as torchvision's ``_make_divisible``.

    The nearest multiple, at least ``min_value`` (default ``divisor``), and never more
    than 10% below ``value`` (from the original TensorFlow MobileNet code).
    """
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def adapt_stride(size: tuple[int, int], kernel: int, stride: int, min_map: int) -> tuple[int, tuple[int, int]]:
    """The stride to use and the map after it: ``stride`` unless that leaves less than ``min_map``.

    A stride > 1 that would shrink the short side of the ``(h, w)`` map below ``min_map``
    pixels becomes 1, so that small inputs (28x28, 32x32) are not reduced to nothing.
    """
    h, w = size
    if stride > 1 and min(conv_out(h, kernel, stride), conv_out(w, kernel, stride)) < min_map:
        stride = 1
    return stride, (conv_out(h, kernel, stride), conv_out(w, kernel, stride))


def check_common(
    space: Any, choice_fields: tuple[str, ...], int_fields: tuple[str, ...], plan_fields: tuple[str, ...]
) -> None:
    """Shared bound checks of the inverted-residual spaces; raises :class:`SpaceError`.

    ``choice_fields`` must be non-empty, ``int_fields`` positive integers, and
    ``plan_fields`` (one entry per stage) non-empty tuples of positive integers of one length.
    """
    for name in choice_fields:
        if not getattr(space, name):
            raise SpaceError(f"{name} must offer at least one choice")
    for name in int_fields:
        value = getattr(space, name)
        if not _is_int(value) or value < 1:
            raise SpaceError(f"{name} must be a positive integer, got {name}={value!r}")
    plan = {name: getattr(space, name) for name in plan_fields}
    lengths = {len(v) for v in plan.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise SpaceError(f"{', '.join(plan)} must be non-empty and of the same length (one entry per stage), "
                         f"got {', '.join(f'{k}={v!r}' for k, v in plan.items())}")
    for name, values in plan.items():
        bad = [v for v in values if not _is_int(v) or v < 1]
        if bad:
            raise SpaceError(f"{name} must be positive integers, got {bad}")
    bad = [k for k in space.kernels if not _is_int(k) or k < 1 or k % 2 == 0]
    if bad:
        raise SpaceError(f"kernels must be odd positive integers (padding (F - 1) / 2), got {bad}")
    bad = [v for v in space.width_mults if not _is_number(v) or v <= 0]
    if bad:
        raise SpaceError(f"width_mults must be numbers > 0, got {bad}")
    bad = [v for v in space.expansions if not _is_number(v) or v < 1]
    if bad:
        raise SpaceError(f"expansions must be numbers >= 1, got {bad}")
    if not _is_number(space.se_ratio) or not 0 < space.se_ratio <= 1:
        raise SpaceError(f"se_ratio must lie in (0, 1], got se_ratio={space.se_ratio!r}")
    if not _is_number(space.dropout) or not 0 <= space.dropout < 1:
        raise SpaceError(f"dropout must lie in [0, 1), got dropout={space.dropout!r}")


@register_space
@dataclass(frozen=True)
class MobileNetSpace(SearchSpace):
    """MobileNetV2-style inverted residual stages (Sandler et al., 2018).

    Parameters: ``width_mult``, ``act``, ``stage{i}.expansion``, ``stage{i}.kernel``,
    ``stage{i}.depth``, ``stage{i}.se`` (``i = 1 .. len(channels)``).

    Args:
        width_mults: width multipliers to choose from; every width is
            ``make_divisible(c * width_mult, 8)``.
        expansions: expansion ratios t of the inverted residuals, chosen per stage.
        kernels: depthwise filter sizes, chosen per stage (odd).
        depth_min, depth_max: blocks per stage.
        se_choices: whether a stage's blocks carry SE (``(False, True)``: searched).
        se_ratio: SE squeeze ratio relative to the block's input channels (1/4).
        activations: activations to choose from (one for the whole network).
        channels: base output channels of the stages (MobileNetV2's c).
        strides: stride of each stage's first block (MobileNetV2's s).
        stem_channels: base channels of the stem conv.
        last_channels: channels of the last 1x1 conv, scaled only by multipliers > 1.
        dropout: dropout before the classifier.
        min_map: a stride-2 layer is used only while its output map is at least this
            many pixels on the short side; otherwise it keeps stride 1.
        large_input: inputs whose short side is at least this many pixels get a
            stride-2 stem, smaller ones a stride-1 stem.
    """

    width_mults: tuple[float, ...] = (0.35, 0.5, 0.75, 1.0)
    expansions: tuple[float, ...] = (1.0, 3.0, 4.0, 6.0)
    kernels: tuple[int, ...] = (3, 5, 7)
    depth_min: int = 1
    depth_max: int = 3
    se_choices: tuple[bool, ...] = (False, True)
    se_ratio: float = 0.25
    activations: tuple[str, ...] = ("relu6", "hardswish")
    channels: tuple[int, ...] = (16, 24, 32, 64, 96, 160, 320)
    strides: tuple[int, ...] = (1, 2, 2, 2, 1, 2, 1)
    stem_channels: int = 32
    last_channels: int = 1280
    dropout: float = 0.2
    min_map: int = 2
    large_input: int = 64

    name = "mobilenet"
    description = "MobileNetV2 inverted residual stages: width multiplier, per-stage expansion, kernel, depth, SE"
    elastic = {"width_mult": "width", "stage*.expansion": "expansion", "stage*.kernel": "kernel",
               "stage*.depth": "depth", "stage*.se": "se"}  # not elastic: act
    rules = (
        "channels rounded to multiples of 8 (make_divisible), scaled by the width multiplier",
        "linear bottleneck: no activation after the projection conv (Sandler et al. 2018)",
        "stride 2 only while the map stays >= min_map, so small inputs end on about 2x2",
    )

    def validate(self) -> None:
        if not (_is_int(self.depth_min) and _is_int(self.depth_max)) or not 1 <= self.depth_min <= self.depth_max:
            raise SpaceError(f"1 <= depth_min <= depth_max integers are required, "
                             f"got depth_min={self.depth_min!r}, depth_max={self.depth_max!r}")
        check_common(
            self,
            ("width_mults", "expansions", "kernels", "se_choices", "activations"),
            ("stem_channels", "last_channels", "min_map", "large_input"),
            ("channels", "strides"),
        )
        bad = [v for v in self.se_choices if not isinstance(v, bool)]
        if bad:
            raise SpaceError(f"se_choices must be booleans, got {bad}")
        bad = [a for a in self.activations if a not in ACTIVATIONS]
        if bad:
            raise SpaceError(f"activations must come from {', '.join(ACTIVATIONS)}, got {bad}")

    def sample(self, trial: Any) -> Architecture:
        width_mult = trial.suggest_categorical("width_mult", self.width_mults)
        act = trial.suggest_categorical("act", self.activations)
        _, h, w = self.input_shape
        stem_stride = 2 if min(h, w) >= self.large_input else 1
        stem_stride, size = adapt_stride((h, w), 3, stem_stride, self.min_map)
        stem = Stage((ConvBlock(make_divisible(self.stem_channels * width_mult), 3, stem_stride, act),))
        stages = []
        for i, (c, s) in enumerate(zip(self.channels, self.strides, strict=True), start=1):
            t = trial.suggest_categorical(f"stage{i}.expansion", self.expansions)
            k = trial.suggest_categorical(f"stage{i}.kernel", self.kernels)
            depth = trial.suggest_int(f"stage{i}.depth", self.depth_min, self.depth_max)
            se = trial.suggest_categorical(f"stage{i}.se", self.se_choices)
            stride, size = adapt_stride(size, k, s, self.min_map)
            out = make_divisible(c * width_mult)
            ratio = float(self.se_ratio) if se else 0.0
            stages.append(Stage(tuple(
                InvertedResidual(out, k, stride if j == 0 else 1, float(t), act, ratio) for j in range(depth)
            )))
        last = make_divisible(self.last_channels * max(1.0, width_mult))
        stages.append(Stage((ConvBlock(last, 1, 1, act),)))
        return Architecture(self.input_shape, self.num_classes, tuple(stages), Head("gap", (), self.dropout), stem)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
