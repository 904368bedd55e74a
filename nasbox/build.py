"""Genotype -> ``nn.Module``: :func:`build_model`, a pure function of the architecture.

The builder owns what crosses blocks (input channels, SE widths, the head's input
features); blocks (:mod:`nasbox.blocks`) only see plain arguments. Module paths match the
layer names of :mod:`nasbox.analysis` (``stage2.block1.conv_dw``).
"""

from __future__ import annotations

import torch
from torch import nn

from nasbox import blocks as B
from nasbox.analysis import analyze, hidden_channels, needs_resize, se_channels
from nasbox.arch import (
    Architecture,
    Block,
    ConvBlock,
    DepthwiseSeparable,
    Head,
    Inception,
    InvertedResidual,
    ResidualBlock,
    Stage,
)

__all__ = ["Network", "build_block", "build_model", "init_weights"]


def build_block(block: Block, in_channels: int) -> nn.Module:
    """The module for one genotype block fed ``in_channels`` channels."""
    if isinstance(block, ConvBlock):
        return B.ConvNormAct(in_channels, block.out_channels, block.kernel, block.stride, act=block.act, bn=block.bn,
                            bias=block.bias)
    if isinstance(block, ResidualBlock):
        se = se_channels(block.out_channels, block.se_ratio) if block.se_ratio > 0 else 0
        return B.ResidualBlock(in_channels, block.out_channels, block.kernel, block.stride, block.act, block.n_convs, se)
    if isinstance(block, DepthwiseSeparable):
        se = se_channels(in_channels, block.se_ratio) if block.se_ratio > 0 else 0
        return B.DepthwiseSeparable(in_channels, block.out_channels, block.kernel, block.stride, block.act, se)
    if isinstance(block, InvertedResidual):
        se = se_channels(in_channels, block.se_ratio) if block.se_ratio > 0 else 0
        hidden = hidden_channels(in_channels, block.expansion)
        return B.InvertedResidual(in_channels, block.out_channels, hidden, block.kernel, block.stride, block.act, se)
    if isinstance(block, Inception):
        return B.InceptionBlock(in_channels, block.b1, block.b3_reduce, block.b3, block.b5_reduce, block.b5,
                                block.pool_proj, block.k5, block.act)
    raise TypeError(f"unknown block, got {block=}")


def _build_stage(stage: Stage, in_channels: int) -> tuple[nn.Sequential, int]:
    seq = nn.Sequential()
    channels = in_channels
    for j, block in enumerate(stage.blocks):
        seq.add_module(f"block{j + 1}", build_block(block, channels))
        channels = block.out_channels
    if stage.pool is not None:
        seq.add_module("pool", B.make_pool(stage.pool.kind, stage.pool.kernel, stage.pool.stride))
    return seq, channels


def _build_head(head: Head, in_features: int, num_classes: int, gap: bool) -> nn.Sequential:
    seq = nn.Sequential()
    if gap:
        seq.add_module("pool", nn.AdaptiveAvgPool2d(1))
    seq.add_module("flatten", nn.Flatten(1))
    features = in_features
    for i, fc in enumerate(head.fc):
        layer = nn.Sequential()
        layer.add_module("linear", nn.Linear(features, fc.width))
        layer.add_module("act", B.make_activation(fc.act))
        if fc.dropout:
            layer.add_module("dropout", nn.Dropout(fc.dropout))
        seq.add_module(f"fc{i + 1}", layer)
        features = fc.width
    if head.dropout:
        seq.add_module("dropout", nn.Dropout(head.dropout))
    seq.add_module("classifier", nn.Linear(features, num_classes))
    return seq


class Network(nn.Sequential):
    """A built architecture: ``resize? -> stem? -> stage1 .. stageM -> head``.

    ``model.arch`` keeps the genotype it was built from.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        info = analyze(arch)  # raises ShapeError before any module is made
        if needs_resize(arch):
            self.add_module("resize", B.Resize(arch.resolution))
        channels = arch.input_shape[0]
        for name, stage in arch.named_stages():
            module, channels = _build_stage(stage, channels)
            self.add_module(name, module)
        c, h, w = info.body_shape
        head_in = c if arch.head.pool == "gap" else c * h * w
        self.add_module("head", _build_head(arch.head, head_in, arch.num_classes, arch.head.pool == "gap"))
        self.arch = arch


def init_weights(model: nn.Module) -> None:
    """MSRA/Kaiming initialisation (He et al., 2015) as in torchvision's ResNet.

    Convolutions: Kaiming normal, fan-out, ReLU gain; BatchNorm: weight 1, bias 0;
    hidden linear layers: Kaiming normal, fan-in (they feed an activation); the final
    classifier: normal(0, 0.01), bias 0, as torchvision does. The last BatchNorm of each residual branch
    starts at zero ("zero-init residual", Goyal et al., 2017), so that every residual
    block begins as the identity, which helps short training runs.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    classifier = getattr(getattr(model, "head", None), "classifier", None)
    if isinstance(classifier, nn.Linear):
        nn.init.normal_(classifier.weight, 0, 0.01)
    for m in model.modules():
        if isinstance(m, B.ResidualBlock):
            last = getattr(m, f"conv{m.n_convs}")
            if hasattr(last, "bn"):
                nn.init.zeros_(last.bn.weight)


def build_model(arch: Architecture, *, seed: int | None = None) -> Network:
    """Build the ``nn.Module`` of ``arch`` with Kaiming (MSRA) initialisation.

    Pure: the same genotype (and ``seed``) always gives the same module and, with a seed,
    the same weights; the global RNG is left untouched when a seed is given.

    Raises:
        ShapeError: the genotype is invalid for its input (before anything is built).
    """
    if seed is None:
        model = Network(arch)
        init_weights(model)
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Network(arch)
        init_weights(model)
    return model
