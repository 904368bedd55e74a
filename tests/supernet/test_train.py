"""Supernet training: the sandwich rule, its checkpoints and a resume that is bit-identical to one run."""

from __future__ import annotations

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.spaces import get_space
from nasbox.supernet import ElasticSpace
from nasbox.supernet.train import SandwichTraining, SupernetConfig, load_supernet, train_supernet
from nasbox.train.checkpoint import CheckpointError
from tests.supernet.test_weights import SHAPE, SMALL

CONFIG = SupernetConfig(epochs=2, batch_size=16, calibration_images=64)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_shape=SHAPE, synthetic_classes=5, synthetic_size=160, seed=0)


def space(**extra):
    return get_space("mobilenet", args={**SMALL["mobilenet"], **extra})


def test_each_step_trains_the_smallest_and_its_own_random_subnets():
    bound = space().bind(SHAPE, 5)
    training = SandwichTraining(ElasticSpace(bound), CONFIG)
    steps = [training.subnets(step) for step in range(6)]
    assert all(s[0] == ElasticSpace(bound).smallest() and len(s) == 1 + CONFIG.random_subnets for s in steps)
    assert steps[3] == training.subnets(3)  # from (seed, step) alone: a resumed run draws the same
    assert len({a.arch_id for s in steps for a in s[1:]}) > 3


def test_a_resumed_supernet_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, data):
    events = []
    whole = train_supernet(space(), data, CONFIG, tmp_path / "whole", device="cpu", progress=events.append)
    assert whole.finished and [h["epoch"] for h in whole.history] == [1, 2]
    assert {"val_accuracy", "val_accuracy_smallest", "loss", "seconds"} <= set(whole.history[-1])
    assert whole.test_accuracy is None  # a supernet is not tested: its subnets are scored by a search
    assert (tmp_path / "whole" / "learning_curve.png").stat().st_size > 0
    half = train_supernet(space(), data, CONFIG, tmp_path / "split", device="cpu", until_epoch=1)
    assert not half.finished and len(half.history) == 1
    resumed = train_supernet(space(), data, CONFIG, tmp_path / "split", device="cpu")
    assert resumed.start_epoch == 1 and resumed.finished
    a, ck_a = load_supernet(tmp_path / "whole")
    b, ck_b = load_supernet(tmp_path / "split" / "checkpoint.pt")
    assert ck_a.epoch == ck_b.epoch == 2
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ck_a.state["optimizer"]["state"].keys() == ck_b.state["optimizer"]["state"].keys()
    assert resumed.history == [{**h, "seconds": r["seconds"], "images_per_second": r["images_per_second"]}
                               for h, r in zip(whole.history, resumed.history, strict=True)]
    # trained: the weights moved from their initialisation
    fresh = train_supernet(space(), data, CONFIG, tmp_path / "fresh", device="cpu", until_epoch=1)
    assert fresh.history[0]["loss"] != whole.history[-1]["loss"]


def test_resuming_with_another_space_or_recipe_is_refused(tmp_path, data):
    train_supernet(space(), data, SupernetConfig(epochs=2, batch_size=16, calibration_images=32),
                   tmp_path, device="cpu", until_epoch=1)
    with pytest.raises(CheckpointError, match="trained with"):
        train_supernet(space(), data, SupernetConfig(epochs=2, batch_size=16, calibration_images=32,
                                                     random_subnets=1), tmp_path, device="cpu")
    with pytest.raises(CheckpointError):
        train_supernet(space(depth_min=2), data, SupernetConfig(epochs=2, batch_size=16, calibration_images=32),
                       tmp_path, device="cpu")


def test_a_candidate_checkpoint_is_not_a_supernet(tmp_path, data):
    from nasbox.train.full import FullTrainConfig, full_train

    arch = space().bind(SHAPE, 5).example()
    full_train(arch, data, FullTrainConfig(epochs=1, batch_size=16), tmp_path, device="cpu")
    with pytest.raises(CheckpointError, match="not a supernet"):
        load_supernet(tmp_path)
