"""The seeded Optuna sampler for ``--sampler``."""

from __future__ import annotations

import warnings

import optuna

from nasbox.errors import ConfigError
from nasbox.search.config import SAMPLERS

__all__ = ["make_sampler"]


def make_sampler(name: str, seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    """The seeded sampler for ``--sampler``. ``tpe`` is multi-objective TPE with
    multivariate, grouped densities (handles the spaces' conditional parameters)."""
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate/group are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10,
                                              constant_liar=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, population_size=20)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    raise ConfigError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
