"""nasbox's Python surface beyond the genotype: running a search (what ``nasbox.search`` calls).

:func:`search` takes every option of :class:`~nasbox.search.config.SearchConfig` as a keyword: its signature and
docstring are made from the options' declarations (:mod:`nasbox.search.options`), so ``help(nasbox.search)``
and ``inspect.signature`` list each one with its default and meaning.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nasbox.report import write_report
from nasbox.search.config import SearchConfig
from nasbox.search.loop import run_search
from nasbox.search.options import docstring, from_mapping, signature
from nasbox.study.result import SearchResult

__all__ = ["search", "search_function"]


def search_function(config_cls: type[SearchConfig] = SearchConfig) -> Callable[..., SearchResult]:
    """The ``search`` function of a config class: every option a keyword, checked as on the command line."""
    extra = [inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation="Callable[[Event], None] | None")]
    sig = signature(config_cls, extra=extra)

    def search(*args: Any, **kwargs: Any) -> SearchResult:
        bound = sig.bind(*args, **kwargs)
        values = dict(bound.arguments)
        progress = values.pop("progress", None)
        space = values.pop("space", "seed_cnn")
        text = {k: v for k, v in values.items() if isinstance(v, str)}  # e.g. objectives="accuracy,macs"
        values.update(from_mapping(config_cls, text, source="search()"))
        return run_search(config_cls(space=space, **values), progress, outputs=write_report)

    search.__signature__ = sig.replace(return_annotation="SearchResult")  # type: ignore[attr-defined]
    search.__doc__ = docstring(
        config_cls, "Run (or resume) a search until its study holds ``budget`` counted trials; write its report.",
        extra="    progress: called with each progress event (:mod:`nasbox.search.events`).\n\nExample:\n"
              "    >>> result = nasbox.search(\"seed_cnn\", dataset=\"mnist5k\", budget=20)\n"
              "    >>> result.pareto[[\"accuracy\", \"macs\", \"encoding\"]]",
        returns="a :class:`~nasbox.study.result.SearchResult`: the trials and the Pareto front as DataFrames.")
    search.__qualname__ = search.__name__ = "search"
    search.__module__ = "nasbox"
    return search


search = search_function()
