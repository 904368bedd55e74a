"""The ResNet space: stages of residual blocks, optionally with squeeze-and-excitation.

He et al., 2016, "Deep Residual Learning for Image Recognition" (the residual block, BN
after every convolution, widths that double when the map halves); Hu et al., 2018,
"Squeeze-and-Excitation Networks" (SE on the residual branch, ratio 1/16 of the block's
output channels, as in SE-ResNet).

Layout of a candidate::

    stem: 3x3/1 conv (inputs < large_input px, CIFAR-style)
          or 7x7/2 conv + 3x3/2 max-pool (ImageNet-style)
    stage1 .. stageM: depth_i residual blocks of width base * 2**(i - 1);
          the first block of stages 2+ has stride 2 while the map can still halve
    head: global average pool -> linear classifier (no dropout: the ResNet recipe)

With ``widths=(64,)``, 2 blocks per stage, kernel 3, ReLU and no SE, a 224x224 candidate
of four stages is exactly ResNet-18 (with SE in every stage, SE-ResNet-18); the default
widths are far narrower, for candidates that train in a brief search on a CPU.

Widths follow the paper's rule (a base width that doubles per stage, keeping the cost
of each stage roughly constant) instead of a free per-stage choice: a free choice would
put wide layers on the full-resolution map, the most expensive place, for no accuracy
benefit a practitioner would expect.

Parameters (stable names, all drawn on every trial): ``n_stages``, ``width`` (the base
width), ``act``, and ``stage{i}.depth``, ``stage{i}.kernel``, ``stage{i}.se`` for
``i = 1 .. stages_max``; those of stages beyond ``n_stages`` are ignored. A stride-2 block
that would shrink the map below ``min_map`` pixels gets stride 1 instead (deterministic,
so the same parameters always give the same, valid genotype).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasbox.errors import SpaceError
from nasbox.model.analysis import conv_out
from nasbox.model.arch import ACTIVATIONS, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, ResidualBlock
from nasbox.spaces import SearchSpace, param_index, register_space

__all__ = ["ResNetSpace"]


@register_space
@dataclass(frozen=True)
class ResNetSpace(SearchSpace):
    """ResNet / SE-ResNet stages of residual blocks (He et al., 2016; Hu et al., 2018).

    Parameters: ``n_stages``, ``width``, ``act``, ``stage{i}.depth``,
    ``stage{i}.kernel``, ``stage{i}.se`` (``i = 1 .. stages_max``).

    Args:
        stages_min, stages_max: number of residual stages.
        depth_min, depth_max: residual blocks per stage.
        widths: base widths (channels of the stem and of stage 1) to choose from; stage
            ``i`` has ``base * 2**(i - 1)`` channels.
        kernels: filter sizes of the block convolutions, chosen per stage (odd).
        se_choices: whether a stage's blocks carry SE (``(False, True)``: searched).
        se_ratio: SE squeeze ratio relative to the block's output channels (SE-ResNet:
            1/16); squeeze width ``max(1, int(out * se_ratio))``.
        activations: activations to choose from (one for the whole network).
        n_convs: convolutions per residual block (2: the basic block).
        min_map: a stride-2 block is used only while its output map is at least this
            many pixels on the short side; otherwise it keeps stride 1.
        large_input: inputs whose short side is at least this many pixels get the
            ImageNet stem (7x7/2 conv + 3x3/2 max-pool), smaller ones a 3x3/1 conv.
    """

    stages_min: int = 3
    stages_max: int = 4
    depth_min: int = 1
    depth_max: int = 3
    widths: tuple[int, ...] = (8, 16, 24)
    kernels: tuple[int, ...] = (3, 5)
    se_choices: tuple[bool, ...] = (False, True)
    se_ratio: float = 0.0625
    activations: tuple[str, ...] = ("relu", "silu", "hardswish")
    n_convs: int = 2
    min_map: int = 2
    large_input: int = 64

    name = "resnet"
    description = "residual stages (ResNet, SE-ResNet): depth, base width doubling per stage, kernel, SE, activation"
    elastic = {"width": "width", "stage*.depth": "depth", "stage*.kernel": "kernel",
               "stage*.se": "se"}  # not elastic: n_stages, act
    rules = (
        "width doubles from one stage to the next, as the map halves (He et al. 2016)",
        "BatchNorm after every convolution, identity or 1x1 projection shortcut",
        "stride 2 in the first block of stages 2+ only while the map stays >= min_map",
    )

    def validate(self) -> None:
        for lo, hi in (("stages_min", "stages_max"), ("depth_min", "depth_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if not (_is_int(a) and _is_int(b)) or a < 1 or a > b:
                raise SpaceError(f"1 <= {lo} <= {hi} integers are required, got {lo}={a!r}, {hi}={b!r}")
        for name in ("n_convs", "min_map", "large_input"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise SpaceError(f"{name} must be a positive integer, got {name}={getattr(self, name)!r}")
        for name in ("widths", "kernels", "se_choices", "activations"):
            if not getattr(self, name):
                raise SpaceError(f"{name} must offer at least one choice")
        bad = [v for v in self.widths if not _is_int(v) or v < 1]
        if bad:
            raise SpaceError(f"widths must be positive integers, got {bad}")
        bad = [k for k in self.kernels if not _is_int(k) or k < 1 or k % 2 == 0]
        if bad:
            raise SpaceError(f"kernels must be odd positive integers (padding (F - 1) / 2), got {bad}")
        bad = [v for v in self.se_choices if not isinstance(v, bool)]
        if bad:
            raise SpaceError(f"se_choices must be booleans, got {bad}")
        bad = [a for a in self.activations if a not in ACTIVATIONS]
        if bad:
            raise SpaceError(f"activations must come from {', '.join(ACTIVATIONS)}, got {bad}")
        if isinstance(self.se_ratio, bool) or not isinstance(self.se_ratio, (int, float)) or not 0 < self.se_ratio <= 1:
            raise SpaceError(f"se_ratio must lie in (0, 1], got se_ratio={self.se_ratio!r}")

    def applies(self, params):
        """Every parameter but those of the stages beyond ``n_stages`` (sampled for every trial)."""
        stages = params.get("n_stages", self.stages_max)
        return {p for p in params if param_index(p, "stage") <= stages}

    def sample(self, trial: Any) -> Architecture:
        n_stages = trial.suggest_int("n_stages", self.stages_min, self.stages_max)
        base = trial.suggest_categorical("width", self.widths)
        act = trial.suggest_categorical("act", self.activations)
        _, h, w = self.input_shape
        if min(h, w) >= self.large_input:
            stem = Stage((ConvBlock(base, 7, 2, act),), Pool("max", 3, 2))
            h, w = conv_out(conv_out(h, 7, 2), 3, 2), conv_out(conv_out(w, 7, 2), 3, 2)
        else:
            stem = Stage((ConvBlock(base, 3, 1, act),))
        stages = []
        for i in range(1, self.stages_max + 1):
            depth = trial.suggest_int(f"stage{i}.depth", self.depth_min, self.depth_max)
            kernel = trial.suggest_categorical(f"stage{i}.kernel", self.kernels)
            se = trial.suggest_categorical(f"stage{i}.se", self.se_choices)
            if i > n_stages:
                continue
            stride = 1
            if i > 1 and min(conv_out(h, kernel, 2), conv_out(w, kernel, 2)) >= self.min_map:
                stride = 2
                h, w = conv_out(h, kernel, 2), conv_out(w, kernel, 2)
            ratio = float(self.se_ratio) if se else 0.0
            width = base * 2 ** (i - 1)
            blocks = tuple(
                ResidualBlock(width, kernel, stride if j == 0 else 1, act, self.n_convs, ratio) for j in range(depth)
            )
            stages.append(Stage(blocks))
        return Architecture(self.input_shape, self.num_classes, tuple(stages), Head("gap"), stem)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
