"""Tests of nasbox.spaces.base: rules on bounds, input-aware sampling, binding, size, replay, no torch."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from nasbox.errors import ShapeError, SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture, Pool, Stage
from nasbox.model.blocks import ConvBlock
from search_spaces.seed_cnn import SeedCNNSpace
from tests.spaces.support import _NO_TORCH, _params


@pytest.mark.parametrize(
    "bounds, rule",
    [({"n_max": 5}, "N < 5"), ({"m_min": 3}, "M > 3"), ({"l_max": 3}, "0 <= L <= 2")],
    ids=["n_max=5", "m_min=3", "l_max=3"],
)
def test_out_of_rule_bounds_quote_the_rule_unless_relaxed(bounds, rule):
    with pytest.raises(SpaceError, match=rule):
        SeedCNNSpace(**bounds)
    space = SeedCNNSpace(**bounds, relax_rules=True)
    assert all(getattr(space, key) == value for key, value in bounds.items())
    analyze(space.example())


def test_space_errors_are_value_errors():
    with pytest.raises(ValueError):
        SeedCNNSpace(n_min=3, n_max=2)


def test_28x28_allows_four_halving_pools():
    space = SeedCNNSpace(input_shape=(1, 28, 28))
    params = _params(space, n_stages=5, **{f"stage{i}.pool": "max" for i in range(1, 6)})
    arch = space.from_params(params)
    assert [s.pool for s in arch.stages] == [Pool("max", 2, 2)] * 4 + [None]
    info = analyze(arch)
    assert info.body_shape[1:] == (1, 1)
    pools = [r for r in info.layers if r.name.startswith("stage") and r.name.endswith(".pool")]
    assert [(r.name, r.out_shape[1]) for r in pools] == [(f"stage{i}.pool", s) for i, s in enumerate((14, 7, 3, 1), 1)]


def test_32x32_allows_five_halving_pools():
    space = SeedCNNSpace(input_shape=(3, 32, 32))
    arch = space.from_params(_params(space, n_stages=5, **{f"stage{i}.pool": "avg" for i in range(1, 6)}))
    assert all(s.pool == Pool("avg", 2, 2) for s in arch.stages)
    assert analyze(arch).body_shape[1:] == (1, 1)


def test_hand_made_genotype_with_too_many_pools_raises_shape_error_naming_the_stage():
    stages = tuple(Stage((ConvBlock(8),), Pool("max", 2, 2)) for _ in range(6))
    arch = Architecture((1, 28, 28), 10, stages)
    with pytest.raises(ShapeError, match=r"stage5\.pool"):
        analyze(arch)
    with pytest.raises(ShapeError):
        SeedCNNSpace(input_shape=(1, 28, 28)).check(arch)


def test_from_params_with_missing_parameters_raises_space_error():
    space = SeedCNNSpace()
    params = _params(space)
    del params["stage3.kernel"]
    with pytest.raises(SpaceError, match="stage3.kernel"):
        space.from_params(params)


def test_bind_keeps_bounds_and_changes_the_input():
    space = SeedCNNSpace(m_max=6, kernels=(3, 5))
    bound = space.bind((1, 28, 28), 5)
    assert bound.bounds() == space.bounds()
    assert (bound.input_shape, bound.num_classes) == ((1, 28, 28), 5)
    assert bound.example().input_shape == (1, 28, 28)


def test_lists_become_tuples_and_bad_input_binding_is_refused():
    assert SeedCNNSpace(kernels=[3, 5]).kernels == (3, 5)
    with pytest.raises(SpaceError, match="input_shape"):
        SeedCNNSpace(input_shape=(28, 28))
    with pytest.raises(SpaceError, match="num_classes"):
        SeedCNNSpace(num_classes=1)


def test_size_is_the_product_of_the_choices():
    space = SeedCNNSpace(n_min=1, n_max=2, m_min=4, m_max=4, l_min=0, l_max=0, channels=(8,), kernels=(3,),
                         activations=("relu",), pools=("max", "none"), skips=(False,), heads=("gap",))
    # n_stages (1) * per stage: n_convs 2 x pool 2, four stages * head.pool (1) * head.n_fc (1)
    assert space.size() == (2 * 2) ** 4
    assert "size: 256 parameter combinations" in space.describe()


def test_sampling_builds_no_model_and_imports_no_torch():
    result = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_optuna_trials_replay_through_from_params():
    space = SeedCNNSpace(input_shape=(1, 28, 28))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(10):
        trial = study.ask()
        arch = space.sample(trial)
        assert space.from_params(trial.params) == arch
