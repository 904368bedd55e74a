"""Supernet training: the sandwich rule, its checkpoints and a resume that is bit-identical to one run."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nasbox.data import load_dataset
from nasbox.spaces import get_space
from nasbox.supernet import ElasticSpace
from nasbox.supernet.checkpoint import load_supernet
from nasbox.supernet.train import SandwichTraining, SupernetConfig, resolve, train_supernet
from nasbox.train.checkpoint import CheckpointError
from tests.supernet.test_weights import SHAPE, SMALL

CONFIG = SupernetConfig(epochs=2, batch_size=16, calibration_images=64, schedule="all")


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


def test_a_sandwich_steps_gradients_are_averaged_over_its_subnets_or_summed(data):
    from types import SimpleNamespace

    bound = space().bind(SHAPE, 5)
    x, y = data.train.images[:8].float() / 255, data.train.labels[:8]
    recipe = SimpleNamespace(scheduler=SimpleNamespace(last_epoch=3), device=torch.device("cpu"), bf16=False,
                             criterion=torch.nn.CrossEntropyLoss())
    grads = {}
    for accumulate in ("mean", "sum"):
        shared, config = resolve(bound, dataclasses.replace(CONFIG, accumulate=accumulate))
        training = SandwichTraining(shared, config)
        net = training.make_model(shared.largest(), config, None).train()
        torch.manual_seed(0)  # the same dropout masks
        training.backward(net, recipe, x, y)
        grads[accumulate] = {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}
    assert resolve(bound, CONFIG)[1].accumulate == "mean"  # auto: averaged, the recipe's lr as for one network
    subnets = 2 + CONFIG.random_subnets  # the largest, the smallest and the random ones
    for key, mean in grads["mean"].items():
        torch.testing.assert_close(grads["sum"][key], mean * subnets, rtol=1e-4, atol=1e-6)


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


def test_progressive_shrinking_adds_one_kind_of_choice_per_phase_in_once_for_alls_order():
    bound = space().bind(SHAPE, 5)
    elastic = ElasticSpace(bound)
    assert elastic.present() == ["kernel", "depth", "expansion", "width", "se"]
    config = SupernetConfig(epochs=12, batch_size=16, schedule="progressive")
    training = SandwichTraining(elastic, config)
    # 12 epochs in 6 phases of 2: the largest alone, then kernel, depth, expansion, width, se added in turn
    assert [training.elastic_kinds(e) for e in range(0, 12, 2)] == [
        [], ["kernel"], ["kernel", "depth"], ["kernel", "depth", "expansion"],
        ["kernel", "depth", "expansion", "width"], ["kernel", "depth", "expansion", "width", "se"]]
    assert training.elastic_kinds(1) == [] and training.elastic_kinds(11) == elastic.present()
    largest = elastic.params_at(-1)

    def changed(arch):  # the parameters where a subnet differs from the largest
        params = {name: values[0] for name, values in elastic.choices.items()}
        chosen = next(p for p in _all_params(elastic) if elastic.space.from_params(p) == arch)
        return {name for name in params if chosen[name] != largest[name]}

    training.epoch = 0
    assert training.subnets(5) == []  # the first phase trains the largest subnet alone
    training.epoch = 2
    kernel_phase = training.subnets(5)
    assert kernel_phase[0] == elastic.smallest(["kernel"]) != elastic.smallest()
    assert all(changed(a) <= {n for n, k in elastic.kinds.items() if k == "kernel"} for a in kernel_phase)
    training.epoch = 11
    assert training.subnets(5)[0] == elastic.smallest()
    assert SandwichTraining(elastic, CONFIG).elastic_kinds(0) is None  # "all": every choice at once
    default = SandwichTraining(elastic, resolve(bound, SupernetConfig(epochs=12))[1])
    assert default.config.schedule == "progressive" and default.elastic_kinds(0) == []  # auto: what ranked best


def _all_params(elastic):
    import itertools

    names = list(elastic.choices)
    for values in itertools.product(*(elastic.choices[n] for n in names)):
        yield dict(zip(names, values, strict=True))


def test_a_progressive_run_resumed_mid_schedule_ends_bit_identical(tmp_path, data):
    config = SupernetConfig(epochs=3, batch_size=16, calibration_images=64, schedule="progressive")
    whole = train_supernet(space(), data, config, tmp_path / "whole", device="cpu")
    half = train_supernet(space(), data, config, tmp_path / "split", device="cpu", until_epoch=1)
    assert not half.finished
    resumed = train_supernet(space(), data, config, tmp_path / "split", device="cpu")
    assert resumed.start_epoch == 1 and resumed.finished
    sa, sb = load_supernet(tmp_path / "whole")[0].net.state_dict(), load_supernet(tmp_path / "split")[0].net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # and it is another run than sampling every choice from the start
    everything = train_supernet(space(), data, dataclasses.replace(config, schedule="all"), tmp_path / "all", device="cpu")
    assert everything.history[0]["loss"] != whole.history[0]["loss"]


def test_progressive_shrinking_of_a_cell_space_is_refused():
    from nasbox.errors import ConfigError

    nb201 = get_space("nb201", args={"cells": 1, "channels": 4}).bind((3, 8, 8), 5)
    with pytest.raises(ConfigError, match="progressive shrinking"):
        resolve(nb201, SupernetConfig(schedule="progressive"))
    assert resolve(nb201, SupernetConfig())[1].schedule == "all"  # auto: a cell space has nothing to shrink
    with pytest.raises(ConfigError, match="schedule must be auto, all or progressive"):
        SupernetConfig(schedule="shrink")


def test_a_short_progressive_run_still_ends_with_every_choice():
    elastic = ElasticSpace(space().bind(SHAPE, 5))
    training = SandwichTraining(elastic, SupernetConfig(epochs=4, batch_size=16, schedule="progressive"))
    phases = [len(training.elastic_kinds(e)) for e in range(4)]
    assert phases[0] == 0 and phases[-1] == len(elastic.present()) and phases == sorted(phases)
    one = SandwichTraining(elastic, SupernetConfig(epochs=1, batch_size=16, schedule="progressive"))
    assert one.elastic_kinds(0) == elastic.present()
