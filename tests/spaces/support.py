"""Helpers shared by the spaces tests."""

from __future__ import annotations

import random

from nasbox.model.arch import Architecture
from nasbox.spaces import SearchSpace


def _params(space: SearchSpace, **overrides: object) -> dict[str, object]:
    """Every parameter at its first choice (lowest value), with ``overrides``."""
    params = {name: spec[0] for name, (_, spec) in space.parameters().items()}
    missing = set(overrides) - set(params)
    assert not missing, missing
    return {**params, **overrides}


def text_round_trips(space: SearchSpace, n: int = 50) -> list[tuple[dict[str, object], str]]:
    """``n`` random genotypes of a space with a published text: each read back from its text and from
    nasbox's encoding (asserted); their parameters and texts, for the space's own format checks."""
    rng, out = random.Random(0), []
    for _ in range(n):
        params, arch = space.sample_random(rng)
        text = space.arch_string(arch)
        assert space.parse_arch(text) == arch == Architecture.decode(arch.encode())
        assert space.parse_arch(arch.encode()) == arch
        out.append((params, text))
    return out


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
