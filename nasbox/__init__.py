"""nasbox: neural architecture search and efficient networks for PyTorch."""

from __future__ import annotations

import importlib.metadata

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


def search(space="seed_cnn", *, progress=None, **options):  # noqa: ANN001, ANN201 - lazy imports
    """Run (or resume) a search and return its :class:`~nasbox.search.SearchResult`.

    Args:
        space: a space name, ``file.py:Class`` / ``module:Class`` spec, or a
            :class:`~nasbox.spaces.SearchSpace` instance.
        progress: optional callback receiving progress events (:mod:`nasbox.search.events`).
        **options: any field of :class:`~nasbox.search.SearchConfig` (``dataset``,
            ``budget``, ``epochs``, ``objectives``, ``sampler``, ``max_macs``, ...).

    Example:
        >>> result = nasbox.search("seed_cnn", dataset="mnist5k", budget=20)
        >>> result.pareto[["accuracy", "macs", "encoding"]]
    """
    from nasbox.report import write_report
    from nasbox.search import SearchConfig, run_search

    if "objectives" in options and isinstance(options["objectives"], str):
        options["objectives"] = tuple(o.strip() for o in options["objectives"].split(","))
    return run_search(SearchConfig(space=space, **options), progress, outputs=write_report)


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
