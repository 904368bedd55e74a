"""nasbox: neural architecture search and efficient networks for PyTorch."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from nasbox.errors import (
    ConfigError,
    DataError,
    NasboxError,
    ShapeError,
    SpaceError,
    StorageError,
    TrainingError,
)
from nasbox.model.analysis import Analysis, Layer, analyze
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock

__version__ = importlib.metadata.version("nasbox")  # one version: the one pyproject.toml gives


def build_model(arch: Architecture, *, seed: int | None = None):  # noqa: ANN201 - lazy torch import
    """Build the ``nn.Module`` of a genotype (see :func:`nasbox.model.build.build_model`)."""
    from nasbox.model.build import build_model as _build

    return _build(arch, seed=seed)


def __getattr__(name: str) -> Any:
    """``search`` loads on first use (torch, optuna, pandas), so that ``import nasbox`` stays light."""
    if name == "search":
        return importlib.import_module("nasbox.api").search
    raise AttributeError(f"module 'nasbox' has no attribute {name!r}")


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
    "search",
]
