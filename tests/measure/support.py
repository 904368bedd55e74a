"""Helpers shared by the measure tests."""

from __future__ import annotations

import torch
from torch import nn

from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
from nasbox.zoo import get_zoo

ARCHS = {
    "plain": Architecture((3, 16, 16), 10, stages=(Stage((ConvBlock(8),), Pool("max")),
                                                   Stage((ConvBlock(16),), Pool("max")))),
    "every_block": Architecture(
        (3, 32, 32), 10,
        stem=Stage((ConvBlock(8, stride=2),)),
        stages=(
            Stage((ResidualBlock(8), ResidualBlock(16, stride=2, se_ratio=0.25)), Pool("avg")),
            Stage((DepthwiseSeparable(24, se_ratio=0.5), InvertedResidual(24, expansion=4, se_ratio=0.25),
                   ConvBlock(24, kernel=5, bn=False, act="silu")), Pool("min")),
            Stage((Inception(8, 4, 8, 4, 8, 8),)),
        ),
        head=Head("flatten", (FC(32),), 0.2),
    ),
    "resized_gray": Architecture((1, 28, 28), 5, resolution=20,
                                 stages=(Stage((ConvBlock(8, kernel=7, stride=2), ConvBlock(8, kernel=1))),)),
}


ZOO = ("resnet18", "mobilenet_v2", "efficientnet_b0", "googlenet")


def arch_by_name(name: str) -> Architecture:
    return ARCHS[name] if name in ARCHS else get_zoo(name, (3, 32, 32))


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "modules": {
            name: (type(m), m.training, sorted(vars(m)), sorted(m._buffers), sorted(m._parameters),
                   len(m._forward_hooks), len(m._forward_pre_hooks))
            for name, m in model.named_modules()
        },
    }


def assert_same(before: dict, after: dict) -> None:
    assert after["modules"] == before["modules"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
