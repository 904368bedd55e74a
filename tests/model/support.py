"""Genotypes shared by the model tests: one of every block kind, and samples of every kind of part."""

from __future__ import annotations

from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock

BLOCK_CLASSES = (ConvBlock, ResidualBlock, DepthwiseSeparable, InvertedResidual, Inception)  # the built-in kinds


def every_block_arch() -> Architecture:
    """Every block type, every pool kind, a stem, a resolution, FCs with activations."""
    return Architecture(
        input_shape=(3, 32, 32),
        num_classes=10,
        resolution=40,
        stem=Stage((ConvBlock(8, kernel=3, stride=2, act="silu"),), Pool("max", 3, 2)),
        stages=(
            Stage(
                (
                    ConvBlock(8, kernel=5, act="leaky_relu", bn=False),
                    ConvBlock(8, act=None, bias=True),
                    ConvBlock(8, kernel=1, bn=False, bias=False),
                ),
                Pool("avg", 2, 2),
            ),
            Stage((ResidualBlock(8), ResidualBlock(16, stride=2, n_convs=3, se_ratio=0.25, act="hardswish"))),
            Stage(
                (
                    DepthwiseSeparable(24, kernel=5, se_ratio=0.5, act="gelu"),
                    InvertedResidual(24, expansion=1),
                    InvertedResidual(32, kernel=7, stride=2, expansion=4.5, se_ratio=0.25, act="silu"),
                    InvertedResidual(32),
                ),
                Pool("min", 2, 1),
            ),
            Stage((Inception(8, 8, 16, 4, 8, 8, k5=3), Inception(4, 4, 8, 2, 4, 4, act="relu6")), None),
            Stage(),
        ),
        head=Head(
            pool="flatten",
            fc=(FC(64, act="leaky_relu", dropout=0.25), FC(32, act="hardswish"), FC(16, act="gelu", dropout=0.1)),
            dropout=0.5,
        ),
    )


def sample_archs() -> list[Architecture]:
    """Hand-made genotypes used by the round-trip and id tests (also imported by a subprocess)."""
    return [
        every_block_arch(),
        Architecture((1, 28, 28), 10, (Stage((ConvBlock(6, kernel=5, bn=False),), Pool("max", 2, 2)),)),
        Architecture((1, 28, 28), 10, ()),
        Architecture((3, 16, 16), 100, (Stage(), Stage(pool=Pool("avg", 3, 2))), head=Head(dropout=0.2)),
        Architecture(
            (3, 224, 224), 1000,
            (Stage((ResidualBlock(64),) * 2), Stage((ResidualBlock(128, stride=2, se_ratio=1 / 16),) * 2)),
            stem=Stage((ConvBlock(64, kernel=7, stride=2),), Pool("max", 3, 2)),
        ),
        Architecture(
            (3, 32, 32), 10,
            (Stage((InvertedResidual(16, expansion=1.0, act="silu", se_ratio=0.25),
                    InvertedResidual(24, stride=2, expansion=6, se_ratio=0.25, act="silu"))),),
            resolution=32, stem=Stage(pool=Pool("min", 2, 2)),
            head=Head(fc=(FC(1280, act="silu", dropout=0.2),), dropout=0.2),
        ),
        Architecture((1, 8, 8), 2, (Stage((ConvBlock(4, bn=True, bias=True), ConvBlock(4, act="relu6"))),)),
    ]
