"""The seeded Optuna sampler for ``--sampler``, seeded afresh for every trial (:class:`PerTrialSeed`)."""

from __future__ import annotations

import warnings

import numpy as np
import optuna

from nasbox.errors import ConfigError
from nasbox.search.config import SAMPLERS

__all__ = ["PerTrialSeed", "make_sampler"]


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



def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number`` of a run seeded ``seed``: NumPy's ``SeedSequence`` of the
    pair, so that the streams of different seeds and trials are unrelated (no ``seed + 1`` at trial
    ``n`` equal to ``seed`` at trial ``n + 1``)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class PerTrialSeed(optuna.samplers.BaseSampler):
    """The sampler of ``--sampler``, made afresh for every trial with a seed drawn from
    ``(seed, trial number)`` (:func:`trial_seed`).

    Trial numbers are unique across the workers of a study, so workers that share it never
    sample in lockstep (with one seed each, workers started together proposed the same
    candidates, trial after trial); and a worker alone replays exactly, a resumed study
    included, whose new trials have new numbers. The seed is mixed, not ``seed + number``: with
    a sum, the runs of seeds 0 and 1 drew the same candidates one trial apart, so ten "seeds"
    of a benchmark were one. nasbox's samplers keep no state between trials that the study's
    storage does not hold, so a fresh one per trial loses nothing.
    """

    def __init__(self, name: str, seed: int, n_objectives: int) -> None:
        self.name, self.seed, self.n_objectives = name, seed, n_objectives
        self._inner = make_sampler(name, seed, n_objectives)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self._inner = make_sampler(self.name, trial_seed(self.seed, trial.number), self.n_objectives)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict) -> dict:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> object:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: optuna.trial.TrialState,
                    values: list[float] | None) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()
