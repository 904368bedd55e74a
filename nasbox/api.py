"""nasbox's Python surface beyond the genotype: running a search (what ``nasbox.search`` calls), loading a
finished study (:func:`load_study`) and making a model (:func:`create_model`); ``nasbox`` re-exports them.

:func:`search` takes every option of :class:`~nasbox.search.config.SearchConfig` as a keyword: its signature and
docstring are made from the options' declarations (:mod:`nasbox.search.options`), so ``help(nasbox.search)``
and ``inspect.signature`` list each one with its default and meaning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasbox.deploy.candidate import resolve_candidate
from nasbox.errors import NasboxError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.report import write_report
from nasbox.search.config import SearchConfig
from nasbox.search.loop import run_search
from nasbox.search.options import docstring, from_mapping, signature
from nasbox.spaces import study_space
from nasbox.study.result import SearchResult
from nasbox.study.schema import StudyAttr, StudyPaths
from nasbox.study.storage import mask_url, open_study, storage_url
from nasbox.study.tables import pareto_dataframe, trials_dataframe
from nasbox.zoo import get_zoo

if TYPE_CHECKING:
    import torch

__all__ = ["create_model", "load_study", "search", "search_function"]


def search_function(config_cls: type[SearchConfig] = SearchConfig) -> Callable[..., SearchResult]:
    """The ``search`` function of a config class: every option a keyword, checked as on the command line."""
    extra = [inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation="Callable[[Event], None] | None"),
             inspect.Parameter("callbacks", inspect.Parameter.KEYWORD_ONLY, default=(),
                               annotation="Sequence[Callable[[optuna.Study, FrozenTrial], None]]")]
    sig = signature(config_cls, extra=extra)

    def search(*args: Any, **kwargs: Any) -> SearchResult:
        bound = sig.bind(*args, **kwargs)
        values = dict(bound.arguments)
        progress = values.pop("progress", None)
        callbacks = values.pop("callbacks", ())
        space = values.pop("space", "seed_cnn")
        text = {k: v for k, v in values.items() if isinstance(v, str)}  # e.g. objectives="accuracy,macs"
        values.update(from_mapping(config_cls, text, source="search()"))
        return run_search(config_cls(space=space, **values), progress, outputs=write_report, callbacks=callbacks)

    search.__signature__ = sig.replace(return_annotation="SearchResult")  # type: ignore[attr-defined]
    search.__doc__ = docstring(
        config_cls, "Run (or resume) a search until its study holds ``budget`` counted trials; write its report.",
        extra="    progress: called with each progress event (:mod:`nasbox.search.events`).\n"
              "    callbacks: Optuna callbacks ``callback(study, frozen_trial)``, called with each trial this process "
              "ran once it is told (as ``study.optimize(callbacks=...)`` calls them).\n\nExample:\n"
              "    >>> result = nasbox.search(\"seed_cnn\", dataset=\"mnist5k\", budget=20)\n"
              "    >>> result.pareto[[\"accuracy\", \"macs\", \"encoding\"]]",
        returns="a :class:`~nasbox.study.result.SearchResult`: the trials and the Pareto front as DataFrames.")
    search.__qualname__ = search.__name__ = "search"
    search.__module__ = "nasbox"
    return search


search = search_function()


def load_study(name: str, reports_dir: str | Path = "reports", storage: str | None = None) -> SearchResult:
    """A finished (or running) study as the :class:`~nasbox.study.result.SearchResult` that :func:`search` returns.

    Args:
        name: the study's name (``nasbox search --study``; default there: ``<space>-<dataset>``).
        reports_dir: where the search wrote its report folders (and, by default, the study's journal).
        storage: an Optuna storage URL (default: ``$NASBOX_STORAGE``, else the journal file in its folder).

    Raises:
        StorageError: no such study there, or its storage cannot be read.

    Example:
        >>> result = nasbox.load_study("seed_cnn-mnist5k")
        >>> result.best("accuracy")["encoding"], result.knee()["number"]
    """
    study = open_study(name, storage, reports_dir)
    with contextlib.suppress(NasboxError):  # a user's space file registers the block kinds its genotypes use
        study_space(study.user_attrs)
    trials = trials_dataframe(study)
    setup = study.user_attrs.get(StudyAttr.SETUP) or {}
    config = study.user_attrs.get(StudyAttr.CONFIG) or {}
    paths = StudyPaths.of(name, reports_dir)
    url = storage_url(storage)
    files = [p for p in (paths.markdown, paths.index, paths.trials_csv, paths.pareto_csv) if p.is_file()]
    return SearchResult(name, mask_url(url) if url else str(paths.journal), paths.root, trials,
                        pareto_dataframe(study, trials),
                        tuple(setup.get("objectives") or config.get("objectives") or ()), files)


def create_model(model: str | Architecture | tuple[str, int], input_shape: tuple[int, int, int] | None = None,
                 num_classes: int | None = None, *, reports_dir: str | Path = "reports", storage: str | None = None,
                 seed: int | None = None) -> torch.nn.Module:
    """An ``nn.Module``, as timm's ``create_model`` makes one: of a classic network, a genotype or a study's trial.

    Args:
        model: a zoo name (:func:`nasbox.list_models`), an :class:`~nasbox.model.arch.Architecture`, or a
            ``(study, trial)`` pair (the genotype the search stored for that trial).
        input_shape: ``(C, H, W)``; a zoo network's default is ``(3, 32, 32)``, a genotype's its own. A genotype
            given another input or ``num_classes`` is rebuilt for them, if its layers fit the new input.
        num_classes: outputs of the classifier (a zoo network's default: 10).
        reports_dir: where the study's report folder lies (for a ``(study, trial)`` pair).
        storage: the study's storage URL (default: ``$NASBOX_STORAGE``, else its journal file).
        seed: seed of the weights' initialisation (default: PyTorch's current random state).

    Raises:
        SpaceError: an unknown zoo name.
        ShapeError: the genotype does not fit ``input_shape`` (a pool or stride shrinks a map below 1x1).
        ConfigError, StorageError: no such study or trial, or no genotype stored for it.
        ValueError: ``model`` is none of the above.

    Example:
        >>> model = nasbox.create_model("mobilenet_v2", input_shape=(3, 224, 224), num_classes=1000)
        >>> model = nasbox.create_model(("seed_cnn-mnist5k", 17))
    """
    if isinstance(model, str):
        arch = get_zoo(model, tuple(input_shape) if input_shape is not None else (3, 32, 32),
                       10 if num_classes is None else num_classes)
    elif isinstance(model, Architecture):
        arch = _refit(model, input_shape, num_classes)
    elif (isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], str) and isinstance(model[1], int)
          and not isinstance(model[1], bool)):
        found, _ = resolve_candidate(study=model[0], trial=model[1], storage=storage, reports_dir=reports_dir)
        arch = _refit(found, input_shape, num_classes)
    else:
        raise ValueError(f"model must be a zoo name, an Architecture or a (study, trial) pair, got {model=}")
    return build_model(arch, seed=seed)


def _refit(arch: Architecture, input_shape: tuple[int, int, int] | None, num_classes: int | None) -> Architecture:
    """The genotype for another input or number of classes, checked by the analysis."""
    changes: dict[str, Any] = {}
    if input_shape is not None and tuple(input_shape) != arch.input_shape:
        changes["input_shape"] = tuple(input_shape)
    if num_classes is not None and num_classes != arch.num_classes:
        changes["num_classes"] = num_classes
    if not changes:
        return arch
    refit = dataclasses.replace(arch, **changes)
    analyze(refit)  # ShapeError, naming the layer, when the body cannot take the new input
    return refit
