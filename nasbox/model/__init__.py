"""The candidate as data and as a network: genotype, block kinds, analysis, builder (the classic networks: :mod:`nasbox.zoo`).

Everything here but :mod:`nasbox.model.build` and :mod:`nasbox.model.layers` is plain
Python: a genotype can be made, checked, encoded and analysed without torch.
"""

from __future__ import annotations

from nasbox.model.analysis import Analysis, Layer, Part, analyze, needs_resize
from nasbox.model.arch import ACTIVATIONS, FC, HEAD_POOLS, POOL_KINDS, Architecture, Head, Pool, Stage
from nasbox.model.blocks import (
    Block,
    ConvBlock,
    DepthwiseSeparable,
    Inception,
    InvertedResidual,
    ResidualBlock,
    block_from_dict,
    block_kind,
    block_kinds,
    register_block,
)
from nasbox.model.ops import conv_out

__all__ = [
    "ACTIVATIONS",
    "FC",
    "HEAD_POOLS",
    "POOL_KINDS",
    "Analysis",
    "Architecture",
    "Block",
    "ConvBlock",
    "DepthwiseSeparable",
    "Head",
    "Inception",
    "InvertedResidual",
    "Layer",
    "Part",
    "Pool",
    "ResidualBlock",
    "Stage",
    "analyze",
    "block_from_dict",
    "block_kind",
    "block_kinds",
    "conv_out",
    "needs_resize",
    "register_block",
]
