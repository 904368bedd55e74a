"""A supernet started from another's weights (``--init``): every path (and, split, every sub-supernet) computes
what the trained supernet computed for it, the run trains on and resumes bit for bit, and a supernet of another
space, bounds or kind, or a split one, is refused in one line."""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import pytest
import torch

from nasbox.cli import main
from nasbox.data import load_dataset
from nasbox.evaluate import EvalContext, make_evaluator
from nasbox.spaces import get_space
from nasbox.supernet import CellSupernet, OneShotSpace
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.train import OneShotTraining, SandwichTraining, SupernetConfig, resolve, train_supernet
from nasbox.train.checkpoint import CheckpointError
from nasbox.train.full import _check_resumable
from tests.supernet.test_weights import SMALL

SHAPE = (3, 16, 16)
ARGS = {"channels": 4, "cells": 1}
CONFIG = SupernetConfig(epochs=4, batch_size=16, calibration_images=32, sampling="fair")


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_shape=SHAPE, synthetic_classes=5, synthetic_size=160, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """A one-shot nb201 supernet trained four epochs (its loss falls from 1.6 to about 1.2 here)."""
    out = tmp_path_factory.mktemp("trained")
    train_supernet(get_space("nb201", args=ARGS), data, CONFIG, out, device="cpu")
    return out


def _outputs(supernet: CellSupernet, archs, x):
    with torch.no_grad():
        return [supernet.extract(a).eval()(x) for a in archs]


@pytest.mark.parametrize("split", [None, "node1.in0"])
def test_every_path_of_a_warm_started_supernet_computes_what_the_trained_one_computed(trained, split):
    source, _ = load_supernet(trained)
    space = OneShotSpace(get_space("nb201", input_shape=SHAPE, num_classes=5, args=ARGS), split=split)
    config = SupernetConfig(epochs=1, sampling="uniform", split=split or "", init=str(trained))
    training = OneShotTraining(space, config)
    training.make_model(space.arch, config, None)
    supernet = training.supernet
    assert not supernet.merged  # split from the start (split_epoch 0), after the load
    rng = random.Random(0)
    archs = [space.random(rng) for _ in range(12)]
    assert split is None or len({a.stages[0].blocks[0].e01 for a in archs}) >= 3  # several sub-supernets
    x = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(1))
    for got, want in zip(_outputs(supernet, archs, x), _outputs(source, archs, x), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    fresh = CellSupernet(space, seed=0)  # what it would start from without --init: not the trained weights
    assert not torch.equal(_outputs(fresh, archs[:1], x)[0], _outputs(source, archs[:1], x)[0])


def test_a_split_supernet_loads_the_one_shot_weights_into_every_sub_supernets_copy(trained):
    source, _ = load_supernet(trained)
    space = OneShotSpace(get_space("nb201", input_shape=SHAPE, num_classes=5, args=ARGS), split="node1.in0")
    supernet = CellSupernet(space, seed=0)
    supernet.load_unsplit(source.net)
    assert supernet.merged  # nothing was split: the copies hold the weights themselves, not by unmerge()
    want = source.net.get_submodule("stage1.block1").state_dict()
    for op in space.space.ops:
        got = supernet.net.get_submodule(f"stage1.block1.{op}").state_dict()
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), op


def test_a_warm_started_run_trains_on_and_resumes_bit_identical(tmp_path, trained, data):
    space = get_space("nb201", args=ARGS)
    config = SupernetConfig(epochs=2, batch_size=16, calibration_images=32, sampling="fair", split="node1.in0",
                            init=str(trained), lr=0.05)
    whole = train_supernet(space, data, config, tmp_path / "whole", device="cpu")
    train_supernet(space, data, config, tmp_path / "half", device="cpu", until_epoch=1)
    train_supernet(space, data, config, tmp_path / "half", device="cpu")
    cold = train_supernet(space, data, SupernetConfig(**{**config.__dict__, "init": ""}), tmp_path / "cold",
                          device="cpu", until_epoch=1)
    (a, ck), (b, _) = load_supernet(tmp_path / "whole"), load_supernet(tmp_path / "half")
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert whole.finished and ck.config["init"] == str(trained)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # it started where the trained supernet was, not where a random initialisation is
    assert whole.history[0]["loss"] < cold.history[0]["loss"] - 0.2
    # a search scored by it says where it started
    context = EvalContext(data, torch.device("cpu"), None, 1, 16, 0.1, False, 0, argument=str(tmp_path / "whole"),
                          space=space.bind(SHAPE, 5))
    text = make_evaluator(f"supernet:{tmp_path / 'whole'}", context).budget_text()
    assert f"inherited weights of whole (2 epochs from {trained.name}'s)" in text
    # without the checkpoint's --init it is another run: not resumed
    with pytest.raises(CheckpointError, match=f"trained with init='{trained}' \\(now ''\\)"):
        train_supernet(space, data, SupernetConfig(**{**config.__dict__, "init": ""}), tmp_path / "whole", device="cpu")


def test_the_init_is_one_folder_however_it_is_written(tmp_path, trained, data, monkeypatch):
    space = get_space("nb201", args=ARGS)
    config = SupernetConfig(epochs=2, batch_size=16, calibration_images=32, sampling="uniform", init=str(trained))
    train_supernet(space, data, config, tmp_path / "run", device="cpu", until_epoch=1)
    monkeypatch.chdir(trained.parent)
    for written in (trained.name, f"{trained.name}/checkpoint.pt", f"./{trained.name}/"):
        again = SupernetConfig(**{**config.__dict__, "init": written})
        result = train_supernet(space, data, again, tmp_path / "run", device="cpu", until_epoch=1)
        assert result.start_epoch == 1, written  # resumed: the same run


def test_a_checkpoint_older_than_a_setting_resumes_as_the_settings_default():
    arch = SimpleNamespace()
    spec = SimpleNamespace(to_dict=lambda: {"name": "synthetic"})
    config = SupernetConfig(epochs=2)
    old = {k: v for k, v in config.key().items() if k != "init"}  # written before --init existed
    ck = SimpleNamespace(arch=arch, config=old, path="old/checkpoint.pt", data={"name": "synthetic"})
    _check_resumable(ck, arch, config, spec)  # the default "": it started from no other supernet
    with pytest.raises(CheckpointError, match="init=''"):
        _check_resumable(ck, arch, SupernetConfig(epochs=2, init="/elsewhere"), spec)


@pytest.mark.parametrize(("space", "args", "shape", "match"), [
    ("nb201", {**ARGS, "channels": 8}, SHAPE, r"another bounds channels=4 \(here 8\)$"),
    ("nb201", ARGS, (3, 8, 8), r"another input shape \(3, 16, 16\) \(here \(3, 8, 8\)\)"),
    ("mobilenet", SMALL["mobilenet"], SHAPE, r"another space nb201 .*kind one-shot \(here elastic\)"),
])
def test_a_supernet_of_another_space_bounds_shape_or_kind_is_refused_before_the_run_starts(tmp_path, trained, space,
                                                                                             args, shape, match):
    data = load_dataset("synthetic", synthetic_shape=shape, synthetic_classes=5, synthetic_size=80, seed=0)
    config = SupernetConfig(epochs=1, batch_size=16, calibration_images=32, init=str(trained))
    with pytest.raises(CheckpointError, match=match):
        train_supernet(get_space(space, args=args), data, config, tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()


def test_a_split_supernet_is_no_start_and_the_load_itself_checks_the_network(tmp_path, trained, data):
    split_config = SupernetConfig(epochs=1, batch_size=16, calibration_images=32, sampling="uniform",
                                  split="node1.in0")
    train_supernet(get_space("nb201", args=ARGS), data, split_config, tmp_path / "split", device="cpu")
    config = SupernetConfig(epochs=1, batch_size=16, calibration_images=32, init=str(tmp_path / "split"))
    with pytest.raises(CheckpointError, match="few-shot supernet .split on node1.in0.; start from an unsplit one"):
        train_supernet(get_space("nb201", args=ARGS), data, config, tmp_path / "run", device="cpu")
    # past check_init (a model made directly), the load still refuses another network
    other = OneShotSpace(get_space("nb201", input_shape=SHAPE, num_classes=5, args={**ARGS, "channels": 8}))
    training = OneShotTraining(other, SupernetConfig(epochs=1, init=str(trained)))
    with pytest.raises(CheckpointError, match="not the unsplit one-shot supernet of this space"):
        training.make_model(other.arch, training.config, None)
    elastic, resolved = resolve(get_space("mobilenet", input_shape=SHAPE, num_classes=5, args=SMALL["mobilenet"]),
                                SupernetConfig(epochs=1, init=str(trained)))
    with pytest.raises(CheckpointError, match="another space"):
        SandwichTraining(elastic, resolved).make_model(elastic.largest(), resolved, None)


def test_an_elastic_supernet_warm_starts_from_one_of_its_space(tmp_path, data):
    space = get_space("mobilenet", args=SMALL["mobilenet"])
    config = SupernetConfig(epochs=1, batch_size=16, calibration_images=32, schedule="all")
    train_supernet(space, data, config, tmp_path / "a", device="cpu")
    source, _ = load_supernet(tmp_path / "a")
    elastic, resolved = resolve(space.bind(SHAPE, 5), SupernetConfig(**{**config.__dict__, "init": str(tmp_path / "a")}))
    training = SandwichTraining(elastic, resolved)
    training.make_model(elastic.largest(), resolved, None)
    want, got = source.net.state_dict(), training.supernet.net.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


@pytest.mark.parametrize(("which", "says"), [("missing", "missing"),
                                             ("trained", r"another bounds channels=4 \(here 8\); input shape \(3, 16, 16\)")])
def test_the_cli_refuses_a_wrong_init_in_one_line_before_saying_what_it_would_train(tmp_path, capsys, trained, which,
                                                                                    says):
    argv = ["supernet", "train", "--space", "nb201", "--space-arg", "channels=8", "--space-arg", "cells=1",
            "--dataset", "synthetic", "--subset", "120", "--epochs", "1", "--reports-dir", str(tmp_path)]
    code = main([*argv, "--init", str(trained if which == "trained" else tmp_path / "missing")])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and re.search(says, err.strip()), err
    assert "supernet of nb201" not in out and not (tmp_path / "supernets").exists(), out
