"""nasbox: neural architecture search and efficient networks for PyTorch.

Give nasbox a search space (or pick a built-in one): it samples candidate CNNs with Optuna, trains each
briefly, scores it on accuracy, MACs, parameters and latency, and keeps the Pareto-optimal ones next to
the classic networks (AlexNet ... EfficientNet-B0), in a report under ``reports/<study>/``.

Search, and read the answer::

    import nasbox
    result = nasbox.search("seed_cnn", dataset="mnist5k", budget=20)  # a SearchResult; writes the report
    result.pareto                          # the Pareto-optimal candidates (a DataFrame), most accurate first
    result.best("accuracy"), result.knee() # the most accurate one; the front's knee (accuracy against MACs)
    arch = result.architecture(17)         # trial 17's genotype
    result = nasbox.load_study("seed_cnn-mnist5k")   # a finished study, as the same object

Models, as timm names them::

    nasbox.list_spaces()                   # the search spaces: ['seed_cnn', 'resnet', 'mobilenet', ...]
    nasbox.list_models("*net*")            # the classic networks of the zoo
    model = nasbox.create_model("resnet18", input_shape=(3, 32, 32), num_classes=10)  # an nn.Module
    model = nasbox.create_model(("seed_cnn-mnist5k", 17))                           # a study's trial
    nasbox.analyze(arch)                   # its layers' shapes, parameters and MACs, without torch

A candidate is data: an :class:`Architecture` of :class:`Stage` s of blocks (:class:`ConvBlock`,
:class:`ResidualBlock`, :class:`InvertedResidual`, ...), a :class:`Head`; :func:`build_model` makes its
module. Every error nasbox raises on bad input is a :class:`NasboxError` (:class:`SpaceError`,
:class:`ConfigError`, :class:`DataError`, ...). ``nasbox --help`` gives the same on the command line.

``import nasbox`` loads nothing heavy: each name loads its module on first use (``search`` loads torch
and Optuna when called).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names __getattr__ gives, for type checkers and editors
    from nasbox.api import create_model, load_study
    from nasbox.errors import ConfigError, DataError, NasboxError, ShapeError, SpaceError, StorageError, TrainingError
    from nasbox.model.analysis import Analysis, Layer, analyze
    from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
    from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
    from nasbox.study.result import SearchResult

#: where each public name lives; it is imported from there on first use
_HOME = {
    **dict.fromkeys(("ConfigError", "DataError", "NasboxError", "ShapeError", "SpaceError", "StorageError",
                     "TrainingError"), "nasbox.errors"),
    **dict.fromkeys(("Analysis", "Layer", "analyze"), "nasbox.model.analysis"),
    **dict.fromkeys(("FC", "Architecture", "Head", "Pool", "Stage"), "nasbox.model.arch"),
    **dict.fromkeys(("ConvBlock", "DepthwiseSeparable", "Inception", "InvertedResidual", "ResidualBlock"),
                    "nasbox.model.blocks"),
    **dict.fromkeys(("create_model", "load_study"), "nasbox.api"),
    "SearchResult": "nasbox.study.result",
}


def __getattr__(name: str) -> Any:
    """The public names, each loaded on first use. ``search`` is the :mod:`nasbox.search` package itself, whose
    module object is callable (:func:`nasbox.api.search`): so ``nasbox.search`` is the same callable object
    whether it is reached through here or the package was imported first."""
    if name == "search":
        return importlib.import_module("nasbox.search")
    if name == "__version__":
        from importlib.metadata import version  # here: reading the installed metadata costs every import 0.05 s

        return version("nasbox")  # one version: the one pyproject.toml gives
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value  # once loaded, an attribute like any other
        return value
    raise AttributeError(f"module 'nasbox' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def build_model(arch: Architecture, *, seed: int | None = None):  # noqa: ANN201 - lazy torch import
    """Build the ``nn.Module`` of a genotype (see :func:`nasbox.model.build.build_model`)."""
    from nasbox.model.build import build_model as _build

    return _build(arch, seed=seed)


def list_spaces() -> list[str]:
    """The names of the registered search spaces, built-in ones first (``seed_cnn``, ``resnet``, ``mobilenet``,
    ``efficientnet``, ``nb201``, ``darts``, then any a user registered); ``nasbox spaces`` describes them."""
    from nasbox.spaces import list_spaces as _classes

    return [cls.name for cls in _classes()]


def list_models(pattern: str | None = None) -> list[str]:
    """The names of the zoo's classic networks, in the zoo's order, as :func:`create_model` takes them.

    Args:
        pattern: a shell-style pattern (``fnmatch``, case-insensitive), e.g. ``"*resnet*"``; default: all.

    Example:
        >>> nasbox.list_models("*net*")
        ['alexnet', 'zfnet', 'googlenet', 'resnet18', 'se_resnet18', 'mobilenet_v2', 'efficientnet_b0']
    """
    import fnmatch

    from nasbox.zoo import ZOO_NAMES

    if pattern is not None and not isinstance(pattern, str):
        raise ValueError(f"pattern must be a string such as '*resnet*', got {pattern=}")
    return [n for n in ZOO_NAMES if pattern is None or fnmatch.fnmatch(n.lower(), pattern.lower())]


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
    "SearchResult",
    "ShapeError",
    "SpaceError",
    "Stage",
    "StorageError",
    "TrainingError",
    "__version__",
    "analyze",
    "build_model",
    "create_model",
    "list_models",
    "list_spaces",
    "load_study",
    "search",
]
