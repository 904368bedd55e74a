"""Genotype -> ``nn.Module``: :func:`build_model`, a pure function of the architecture.

The builder owns what crosses blocks: each block is built for the input channels the
analysis found for it, from its own description (:meth:`Block.module`, or by default its
:meth:`Block.layers` realised by :func:`nasbox.model.layers.realize`), and the head gets
the body's output features. Module paths match the layer names of
:mod:`nasbox.model.analysis` (``stage2.block1.conv_dw``).
"""

from __future__ import annotations

import torch
from torch import nn

from nasbox.model import layers as L
from nasbox.model.analysis import analyze, needs_resize
from nasbox.model.arch import Architecture, Head
from nasbox.model.blocks.base import Block

__all__ = ["Network", "build_block", "build_model", "init_weights"]


def build_block(block: Block, in_channels: int) -> nn.Module:
    """The module for one genotype block fed ``in_channels`` channels."""
    module = block.module(in_channels)
    return module if module is not None else L.realize(block.layers(in_channels), in_channels)[0]


def _build_head(head: Head, in_features: int, num_classes: int, gap: bool) -> nn.Sequential:
    seq = nn.Sequential()
    if gap:
        seq.add_module("pool", nn.AdaptiveAvgPool2d(1))
    seq.add_module("flatten", nn.Flatten(1))
    features = in_features
    for i, fc in enumerate(head.fc):
        layer = nn.Sequential()
        layer.add_module("linear", nn.Linear(features, fc.width))
        layer.add_module("act", L.make_activation(fc.act))
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
        fed = {part.name: part.in_shape for part in info.parts}
        if needs_resize(arch):
            self.add_module("resize", L.Resize(arch.resolution))
        for name, stage in arch.named_stages():
            seq = nn.Sequential()
            for j, block in enumerate(stage.blocks):
                seq.add_module(f"block{j + 1}", build_block(block, fed[f"{name}.block{j + 1}"][0]))
            if stage.pool is not None:
                seq.add_module("pool", L.make_pool(stage.pool.kind, stage.pool.kernel, stage.pool.stride, stage.pool.padding))
            self.add_module(name, seq)
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
        if isinstance(m, L.SeqModule) and m.zero_init_last:
            norms = [c.bn for name in m.order if isinstance(c := m.get_submodule(name), L.ConvNormAct) and hasattr(c, "bn")]
            if norms:
                nn.init.zeros_(norms[-1].weight)


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
