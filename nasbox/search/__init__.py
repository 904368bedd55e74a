"""The search: an Optuna study over a space's genotypes, scored on accuracy and costs (see :mod:`~nasbox.search.loop`).

``nasbox.search`` is both this package and the function :func:`nasbox.search`: the package's module object is
callable (it calls :func:`nasbox.api.search`), so ``nasbox.search(...)`` works whether or not the package was
imported first -- importing a package's submodule sets the parent's attribute of that name to the module, which
would otherwise replace the function in a notebook after the first call. Its names load on first use, so that
:mod:`nasbox.search.config` and :mod:`nasbox.search.options` (the options the command line's help lists) import
no torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["DEFAULT_EPOCHS", "SAMPLERS", "Event", "Outputs", "Search", "SearchConfig", "SearchEnded", "SearchResult",
           "SearchStarted", "TrialEnded", "TrialStarted", "default_fidelity", "make_sampler", "run_search",
           "worker_devices"]

_HOME = {"DEFAULT_EPOCHS": "config", "SAMPLERS": "config", "SearchConfig": "config", "SearchResult": "result",
         "default_fidelity": "config", "worker_devices": "coordinate", "Event": "events", "SearchEnded": "events",
         "SearchStarted": "events", "TrialEnded": "events", "TrialStarted": "events", "Outputs": "loop",
         "Search": "loop", "run_search": "loop", "make_sampler": "samplers"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        home = "nasbox.study.result" if _HOME[name] == "result" else f"{__name__}.{_HOME[name]}"
        return getattr(importlib.import_module(home), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _SearchPackage(types.ModuleType):
    """The package, callable as :func:`nasbox.search`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return importlib.import_module("nasbox.api").search(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(importlib.import_module("nasbox.api").search)


_PACKAGE_DOC = __doc__
# help(nasbox.search) and nasbox.search.__doc__ read as the function's, then the package's
_SearchPackage.__doc__ = property(  # type: ignore[assignment]
    lambda self: f"{importlib.import_module('nasbox.api').search.__doc__}\n\n{_PACKAGE_DOC}")
sys.modules[__name__].__class__ = _SearchPackage
