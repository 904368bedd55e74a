"""The search-space machinery of :mod:`nasbox.spaces`, exercised with the seed CNN space.

Design rules and their relaxation, input-aware sampling, configuration from
``--space-arg`` text and TOML, loading a user's space from a file or a module, and
sampling without torch.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import optuna
import pytest

from nasbox.errors import ShapeError, SpaceError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture, Pool, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.spaces import SearchSpace, get_space, list_spaces, load_space, parse_space_args
from search_spaces.seed_cnn import SeedCNNSpace


def _params(space: SearchSpace, **overrides: object) -> dict[str, object]:
    """Every parameter at its first choice (lowest value), with ``overrides``."""
    params = {name: spec[0] for name, (_, spec) in space.parameters().items()}
    missing = set(overrides) - set(params)
    assert not missing, missing
    return {**params, **overrides}


# --------------------------------------------------------------------------- rules


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


# --------------------------------------------------------------------------- input-aware sampling


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


# --------------------------------------------------------------------------- configuration


def test_space_args_are_coerced_to_the_field_types():
    args = parse_space_args(["m_max=6", "kernels=3,5", "relax_rules=true"])
    assert args == {"m_max": "6", "kernels": "3,5", "relax_rules": "true"}
    space = get_space("seed_cnn", args=args)
    assert space.m_max == 6 and type(space.m_max) is int
    assert space.kernels == (3, 5) and all(type(k) is int for k in space.kernels)
    assert space.relax_rules is True
    assert get_space("seed_cnn", args={"fc_dropout": "0.25", "skips": "false"}).fc_dropout == 0.25
    assert get_space("seed_cnn", args={"skips": "false"}).skips == (False,)


@pytest.mark.parametrize(
    "items, match",
    [
        (["m_max"], "malformed"),
        (["=6"], "malformed"),
        (["bogus=1"], "no bound 'bogus'"),
        (["m_max=six"], "not a valid int"),
        (["kernels=3,x"], "not a valid int"),
        (["relax_rules=maybe"], "not a valid bool"),
        (["fc_dropout=lots"], "not a valid float"),
    ],
)
def test_bad_space_args_raise_space_error(items, match):
    with pytest.raises(SpaceError, match=match):
        get_space("seed_cnn", args=parse_space_args(items))


def test_toml_bounds_and_args_override_them(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(textwrap.dedent("""
        [space]
        m_max = 6
        kernels = [3, 5]
        activations = ["relu", "silu"]
        relax_rules = false
    """))
    space = get_space("seed_cnn", toml_file=path)
    assert (space.m_max, space.kernels, space.activations) == (6, (3, 5), ("relu", "silu"))
    space = get_space("seed_cnn", toml_file=path, args=parse_space_args(["m_max=5", "kernels=7"]))
    assert (space.m_max, space.kernels, space.activations) == (5, (7,), ("relu", "silu"))
    space = get_space("seed_cnn", toml_file=path, input_shape=(1, 28, 28), num_classes=4)
    assert (space.input_shape, space.num_classes, space.m_max) == ((1, 28, 28), 4, 6)


def test_bad_toml_files_raise_space_error(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        get_space("seed_cnn", toml_file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[space\nm_max = 6\n")
    with pytest.raises(SpaceError, match="not valid TOML"):
        get_space("seed_cnn", toml_file=bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[space]\nwidth = 3\n")
    with pytest.raises(SpaceError, match="no bound 'width'"):
        get_space("seed_cnn", toml_file=unknown)
    rule = tmp_path / "rule.toml"
    rule.write_text("[space]\nn_max = 6\n")
    with pytest.raises(SpaceError, match="N < 5"):
        get_space("seed_cnn", toml_file=rule)


def test_get_space_accepts_an_instance():
    space = get_space(SeedCNNSpace(m_max=6), args={"kernels": "3"}, num_classes=3)
    assert (space.m_max, space.kernels, space.num_classes) == (6, (3,), 3)


# --------------------------------------------------------------------------- registry and user spaces


_USER_SPACE = '''
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasbox.model.arch import Architecture, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.errors import SpaceError
from nasbox.spaces import SearchSpace


@dataclass(frozen=True)
class MySpace(SearchSpace):
    """One conv stage of a chosen width."""

    widths: tuple[int, ...] = (8, 16)

    name = "my_space"
    description = "one conv of a chosen width"

    def validate(self) -> None:
        if not self.widths:
            raise SpaceError("widths must offer at least one choice")

    def sample(self, trial: Any) -> Architecture:
        width = trial.suggest_categorical("stage1.width", self.widths)
        return Architecture(self.input_shape, self.num_classes, (Stage((ConvBlock(width),)),))


NotASpace = 42
'''


def test_built_in_spaces_are_listed():
    names = [cls.name for cls in list_spaces()]
    assert {"seed_cnn", "resnet", "mobilenet", "efficientnet"} <= set(names)
    assert load_space("seed_cnn") is SeedCNNSpace


def test_user_space_loads_from_a_file(tmp_path):
    path = tmp_path / "my_space.py"
    path.write_text(_USER_SPACE)
    cls = load_space(f"{path}:MySpace")
    assert issubclass(cls, SearchSpace) and cls.name == "my_space"
    space = get_space(f"{path}:MySpace", args=parse_space_args(["widths=4,12"]), input_shape=(1, 28, 28))
    assert space.widths == (4, 12)
    arch = space.from_params({"stage1.width": 12})
    assert arch.stages[0].blocks[0].out_channels == 12 and arch.input_shape == (1, 28, 28)
    with pytest.raises(SpaceError, match="not a SearchSpace"):
        load_space(f"{path}:NotASpace")
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(f"{tmp_path / 'missing.py'}:MySpace")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(SpaceError, match="boom"):
        load_space(f"{broken}:MySpace")


def test_user_space_loads_from_a_module(tmp_path, monkeypatch):
    package = tmp_path / "nasbox_test_userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "spaces.py").write_text(_USER_SPACE)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("nasbox_test_userpkg", "nasbox_test_userpkg.spaces"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        cls = load_space("nasbox_test_userpkg.spaces:MySpace")
        assert cls.__module__ == "nasbox_test_userpkg.spaces"
        space = get_space("nasbox_test_userpkg.spaces:MySpace", args={"widths": "24"})
        assert space.widths == (24,) and space.example().stages[0].blocks[0].out_channels == 24
        with pytest.raises(SpaceError, match="cannot import"):
            load_space("nasbox_test_userpkg.missing:MySpace")
    finally:
        for name in ("nasbox_test_userpkg", "nasbox_test_userpkg.spaces"):
            sys.modules.pop(name, None)


def test_unknown_space_names_raise_space_error():
    with pytest.raises(SpaceError, match="unknown space 'nope'"):
        get_space("nope")


# --------------------------------------------------------------------------- no torch while sampling


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
