"""The seed CNN space: ``[(Conv) * N + Pooling] * M + FC * L + SoftMax``.

The typical CNN of the design notes, with the notes' rules N < 5, M > 3 and
0 <= L <= 2 enforced on the bounds (``relax_rules=True`` lifts them). Per stage the
search chooses the number of convolutions, the channels, the filter size, the activation,
the pooling (max, average, min or none) and whether the stage's convolutions are wrapped
as one residual block (a skip connection around them, ResNet-style). The head chooses a
global average pool or a flatten, then L hidden fully connected layers.

Parameters (stable names): ``n_stages``, ``stage{i}.n_convs``, ``stage{i}.channels``,
``stage{i}.kernel``, ``stage{i}.act``, ``stage{i}.pool``, ``stage{i}.skip`` for
``i = 1 .. m_max``, ``head.pool``, ``head.n_fc``, ``head.fc{j}.width`` for
``j = 1 .. l_max``. All are drawn on every trial (a fixed search space, as NSGA-II needs);
those of unused stages or FC layers are ignored. A pool that would shrink the feature map
below 1x1 becomes "none", so every sample is valid for the bound input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasbox.errors import SpaceError
from nasbox.model.arch import ACTIVATIONS, FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, ResidualBlock
from nasbox.spaces import SearchSpace, param_index, register_space

__all__ = ["SeedCNNSpace"]

_POOLS = ("max", "avg", "min", "none")


@register_space
@dataclass(frozen=True)
class SeedCNNSpace(SearchSpace):
    """``[(Conv) * N + Pool] * M + FC * L``, N in [n_min, n_max], M in [m_min, m_max], L in [l_min, l_max].

    Args:
        n_min, n_max: convolutions per stage (rule: N < 5).
        m_min, m_max: stages (rule: M > 3).
        l_min, l_max: hidden FC layers (rule: 0 <= L <= 2).
        channels: filter counts K to choose from, per stage.
        kernels: filter sizes F to choose from, per stage (odd; the notes use 1, 3, 5, 7).
        activations: activations to choose from, per stage.
        pools: pooling choices per stage, from max, avg, min, none.
        skips: whether a stage may be residual (``(False, True)``) or never/always.
        heads: ``gap`` and/or ``flatten`` before the FC layers.
        fc_widths: hidden FC widths to choose from.
        fc_dropout: dropout after each hidden FC layer.
        relax_rules: allow bounds outside the design rules.
    """

    n_min: int = 1
    n_max: int = 4
    m_min: int = 4
    m_max: int = 5
    l_min: int = 0
    l_max: int = 2
    channels: tuple[int, ...] = (8, 16, 24, 32)
    kernels: tuple[int, ...] = (1, 3, 5, 7)
    activations: tuple[str, ...] = ("relu", "relu6", "silu", "hardswish", "gelu", "leaky_relu")
    pools: tuple[str, ...] = ("max", "avg", "min", "none")
    skips: tuple[bool, ...] = (False, True)
    heads: tuple[str, ...] = ("gap", "flatten")
    fc_widths: tuple[int, ...] = (64, 128, 256)
    fc_dropout: float = 0.0
    relax_rules: bool = False

    name = "seed_cnn"
    description = "typical CNN [(Conv)*N + Pool]*M + FC*L: per-stage convs, width, kernel, activation, pool, skip"
    # not elastic: n_stages, stage*.act, stage*.pool, stage*.skip, head.pool, head.n_fc
    elastic = {"stage*.channels": "width", "stage*.kernel": "kernel", "stage*.n_convs": "depth",
               "head.fc*.width": "width"}
    rules = ("N < 5 convolutions per stage", "M > 3 stages", "0 <= L <= 2 hidden FC layers")

    def validate(self) -> None:
        for lo, hi in (("n_min", "n_max"), ("m_min", "m_max"), ("l_min", "l_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if not (isinstance(a, int) and isinstance(b, int)) or a > b:
                raise SpaceError(f"{lo} <= {hi} integers are required, got {lo}={a!r}, {hi}={b!r}")
        if self.n_min < 1 or self.m_min < 1 or self.l_min < 0:
            raise SpaceError(f"need n_min >= 1, m_min >= 1, l_min >= 0, got {self.n_min=}, {self.m_min=}, {self.l_min=}")
        if not self.relax_rules:
            if self.n_max >= 5:
                raise SpaceError(f"n_max={self.n_max} breaks the design rule N < 5 (convolutions per stage); "
                                 "lower it or pass relax_rules=True")
            if self.m_min <= 3:
                raise SpaceError(f"m_min={self.m_min} breaks the design rule M > 3 (stages); "
                                 "raise it or pass relax_rules=True")
            if self.l_max > 2:
                raise SpaceError(f"l_max={self.l_max} breaks the design rule 0 <= L <= 2 (FC layers); "
                                 "lower it or pass relax_rules=True")
        for name in ("channels", "kernels", "activations", "pools", "skips", "heads"):
            if not getattr(self, name):
                raise SpaceError(f"{name} must offer at least one choice")
        if self.l_max > 0 and not self.fc_widths:
            raise SpaceError("fc_widths must offer at least one choice when l_max > 0")
        bad = [k for k in self.kernels if not isinstance(k, int) or k < 1 or k % 2 == 0]
        if bad:
            raise SpaceError(f"kernels must be odd positive integers (padding (F - 1) / 2), got {bad}")
        bad = [c for c in (*self.channels, *self.fc_widths) if not isinstance(c, int) or c < 1]
        if bad:
            raise SpaceError(f"channels and fc_widths must be positive integers, got {bad}")
        for name, allowed in (("activations", ACTIVATIONS), ("pools", _POOLS), ("heads", ("gap", "flatten"))):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise SpaceError(f"{name} must come from {', '.join(allowed)}, got {bad}")
        if not 0.0 <= self.fc_dropout < 1.0:
            raise SpaceError(f"fc_dropout must lie in [0, 1), got {self.fc_dropout=}")

    def applies(self, params):
        """Every parameter but those of the stages beyond ``n_stages`` and the FC layers beyond
        ``head.n_fc`` (sampled for every trial, so that the samplers see a fixed set)."""
        stages, fcs = params.get("n_stages", self.m_max), params.get("head.n_fc", self.l_max)
        return {p for p in params if not (param_index(p, "stage") > stages or param_index(p, "head.fc") > fcs)}

    def sample(self, trial: Any) -> Architecture:
        m = trial.suggest_int("n_stages", self.m_min, self.m_max)
        _, h, w = self.input_shape
        size = min(h, w)
        stages = []
        for i in range(1, self.m_max + 1):
            n = trial.suggest_int(f"stage{i}.n_convs", self.n_min, self.n_max)
            ch = trial.suggest_categorical(f"stage{i}.channels", self.channels)
            k = trial.suggest_categorical(f"stage{i}.kernel", self.kernels)
            act = trial.suggest_categorical(f"stage{i}.act", self.activations)
            pool = trial.suggest_categorical(f"stage{i}.pool", self.pools)
            skip = trial.suggest_categorical(f"stage{i}.skip", self.skips)
            if i > m:
                continue
            if skip:
                blocks: tuple = (ResidualBlock(ch, k, 1, act, n_convs=n),)
            else:
                blocks = tuple(ConvBlock(ch, k, 1, act) for _ in range(n))
            stage_pool = None
            if pool != "none" and size >= 2:  # a 2x2/2 pool halves the map; below 2 it would vanish
                stage_pool = Pool(pool, 2, 2)
                size //= 2
            stages.append(Stage(blocks, stage_pool))
        head = trial.suggest_categorical("head.pool", self.heads)
        n_fc = trial.suggest_int("head.n_fc", self.l_min, self.l_max)
        fcs = []
        for j in range(1, self.l_max + 1):
            width = trial.suggest_categorical(f"head.fc{j}.width", self.fc_widths) if self.fc_widths else 0
            if j <= n_fc:
                fcs.append(FC(width, "relu", self.fc_dropout))
        return Architecture(self.input_shape, self.num_classes, tuple(stages), Head(head, tuple(fcs)))

