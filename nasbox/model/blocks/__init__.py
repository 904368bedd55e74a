"""Block kinds: one module each, registered on import (see :mod:`nasbox.model.blocks.base`).

Built in: :class:`ConvBlock` (``conv``, ``cn``), :class:`ResidualBlock` (``residual``,
``rb``), :class:`DepthwiseSeparable` (``dwsep``, ``ds``), :class:`InvertedResidual`
(``mbconv``, ``ir``) and :class:`Inception` (``inception``, ``inc``).
"""

from __future__ import annotations

from nasbox.model.blocks.base import (
    ACT_TOKENS,
    TEXT_ALPHABET,
    Block,
    block_from_dict,
    block_kind,
    block_kinds,
    check_text,
    field_types,
    kind_for_tag,
    register_block,
)
from nasbox.model.blocks.conv import ConvBlock
from nasbox.model.blocks.dwsep import DepthwiseSeparable
from nasbox.model.blocks.inception import Inception
from nasbox.model.blocks.mbconv import InvertedResidual
from nasbox.model.blocks.residual import ResidualBlock

__all__ = [
    "ACT_TOKENS",
    "TEXT_ALPHABET",
    "Block",
    "ConvBlock",
    "DepthwiseSeparable",
    "Inception",
    "InvertedResidual",
    "ResidualBlock",
    "block_from_dict",
    "block_kind",
    "block_kinds",
    "check_text",
    "field_types",
    "kind_for_tag",
    "register_block",
]
