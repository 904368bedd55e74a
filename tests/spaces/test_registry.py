"""Tests of nasbox.spaces.registry: bounds from text and TOML, the registry, users' spaces from files and modules."""

from __future__ import annotations

import sys
import textwrap

import pytest

from nasbox.errors import SpaceError
from nasbox.spaces import SearchSpace, get_space, list_spaces, load_space, parse_space_args
from search_spaces.seed_cnn import SeedCNNSpace


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


def test_built_in_spaces_are_listed_in_their_order_whichever_was_imported_first(monkeypatch):
    import nasbox.spaces.registry as registry

    classes = {cls.name: cls for cls in list_spaces()}  # every built-in registered

    class Mine(SeedCNNSpace):
        name = "mine"

    # as in a process that imported search_spaces.nb201 first, and registered a space of its own before the rest
    order = ["nb201", "mine", "seed_cnn", "resnet", "mobilenet", "efficientnet", "darts"]
    monkeypatch.setattr(registry, "_REGISTRY", {name: Mine if name == "mine" else classes[name] for name in order})
    assert [cls.name for cls in list_spaces()] == ["seed_cnn", "resnet", "mobilenet", "efficientnet", "nb201", "darts",
                                                   "mine"]


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


