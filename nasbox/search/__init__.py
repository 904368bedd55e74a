"""The search: an Optuna study over a space's genotypes, scored on accuracy and costs (see :mod:`~nasbox.search.loop`)."""

from __future__ import annotations

from nasbox.search.config import DEFAULT_EPOCHS, SAMPLERS, SearchConfig, SearchResult, default_fidelity
from nasbox.search.coordinate import worker_devices
from nasbox.search.events import Event, SearchEnded, SearchStarted, TrialEnded, TrialStarted
from nasbox.search.loop import Outputs, Search, run_search
from nasbox.search.samplers import make_sampler

__all__ = ["DEFAULT_EPOCHS", "SAMPLERS", "Event", "Outputs", "Search", "SearchConfig", "SearchEnded", "SearchResult",
           "SearchStarted", "TrialEnded", "TrialStarted", "default_fidelity", "make_sampler", "run_search",
           "worker_devices"]
