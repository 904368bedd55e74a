"""nasbox: neural architecture search and efficient networks for PyTorch."""

from __future__ import annotations

from nasbox.analysis import Analysis, Layer, analyze
from nasbox.arch import (
    FC,
    Architecture,
    ConvBlock,
    DepthwiseSeparable,
    Head,
    Inception,
    InvertedResidual,
    Pool,
    ResidualBlock,
    Stage,
)
from nasbox.errors import (
    ConfigError,
    DataError,
    NasboxError,
    ShapeError,
    SpaceError,
    StorageError,
    TrainingError,
)

__version__ = "0.1.0"


def build_model(arch: Architecture, *, seed: int | None = None):  # noqa: ANN201 - lazy torch import
    """Build the ``nn.Module`` of a genotype (see :func:`nasbox.build.build_model`)."""
    from nasbox.build import build_model as _build

    return _build(arch, seed=seed)


__all__ = [
    "FC",
    "Analysis",
    "Architecture",
    "ConfigError",
    "ConvBlock",
    "DataError",
    "DepthwiseSeparable",
    "Head",
    "Inception",
    "InvertedResidual",
    "Layer",
    "NasboxError",
    "Pool",
    "ResidualBlock",
    "ShapeError",
    "SpaceError",
    "Stage",
    "StorageError",
    "TrainingError",
    "__version__",
    "analyze",
    "build_model",
]
