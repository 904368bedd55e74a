"""Helpers shared by the spaces tests."""

from __future__ import annotations

from nasbox.spaces import SearchSpace


def _params(space: SearchSpace, **overrides: object) -> dict[str, object]:
    """Every parameter at its first choice (lowest value), with ``overrides``."""
    params = {name: spec[0] for name, (_, spec) in space.parameters().items()}
    missing = set(overrides) - set(params)
    assert not missing, missing
    return {**params, **overrides}


_NO_TORCH = """
import sys

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
from search_spaces.seed_cnn import SeedCNNSpace

study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
space = SeedCNNSpace()
for _ in range(20):
    space.sample(study.ask())
assert "torch" not in sys.modules, "sampling seed_cnn imported torch"

from nasbox.model.analysis import analyze
from nasbox.spaces import list_spaces

for cls in list_spaces():
    space = cls(input_shape=(1, 28, 28))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        analyze(space.sample(study.ask()))
assert "torch" not in sys.modules, "sampling or analysing a built-in space imported torch"
print("ok")
"""
