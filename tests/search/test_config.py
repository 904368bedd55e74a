"""The per-candidate training a search takes when it is not given: per dataset and device."""

from __future__ import annotations

import argparse
import math

import pytest
import torch

from nasbox.cli.score import _zoo_settings
from nasbox.search import SearchConfig, default_fidelity
from nasbox.search.config import GPU_FIDELITY


def test_the_cpu_defaults_are_the_datasets_epochs_at_batch_32_and_lr_0_1():
    assert default_fidelity("mnist5k", "cpu") == (2.0, None, 32, pytest.approx(0.1))
    assert default_fidelity("cifar10", torch.device("cpu")) == (1.0, None, 32, pytest.approx(0.1))


def test_a_gpu_trains_cifar10s_whole_split_at_a_larger_batch_with_the_learning_rate_scaled():
    epochs, batch = GPU_FIDELITY["cifar10"]
    assert batch > 32 and epochs >= 1
    for device in ("cuda", "cuda:1", torch.device("cuda", 0)):
        got = default_fidelity("cifar10", device)
        assert got == (epochs, None, batch, pytest.approx(0.1 * math.sqrt(batch / 32)))
    # the bundled digits have no GPU default (4,500 images leave a large batch few steps); nor has a subset
    assert default_fidelity("mnist5k", "cuda") == default_fidelity("mnist5k", "cpu")
    assert default_fidelity("cifar10", "cuda", subset=5000) == default_fidelity("cifar10", "cpu")


def test_what_is_given_is_kept_and_only_the_rest_defaults():
    epochs, batch = GPU_FIDELITY["cifar10"]
    assert default_fidelity("cifar10", "cuda", epochs=0.5) == (0.5, None, batch, pytest.approx(0.1 * math.sqrt(batch / 32)))
    assert default_fidelity("cifar10", "cuda", iterations=40) == (None, 40, batch, pytest.approx(0.1 * math.sqrt(batch / 32)))
    assert default_fidelity("cifar10", "cpu", batch_size=128) == (1.0, None, 128, pytest.approx(0.2))
    assert default_fidelity("cifar10", "cuda", batch_size=32, lr=0.05) == (epochs, None, 32, 0.05)


def test_the_search_config_fills_in_the_defaults_of_its_device():
    gpu = SearchConfig(dataset="cifar10").with_defaults(torch.device("cuda", 0))
    assert (gpu.epochs, gpu.batch_size, gpu.lr, gpu.augment) == (*GPU_FIDELITY["cifar10"],
                                                                 pytest.approx(0.1 * math.sqrt(gpu.batch_size / 32)),
                                                                 True)
    cpu = SearchConfig(batch_size=64).with_defaults("cpu")
    assert (cpu.epochs, cpu.batch_size, cpu.lr, cpu.augment) == (2.0, 64, pytest.approx(0.1 * math.sqrt(2)), False)
    SearchConfig().check()  # None is a valid batch size and learning rate: "the default"


def _zoo_args(**given) -> argparse.Namespace:
    return argparse.Namespace(**{"study": None, "dataset": "cifar10", "device": None, "epochs": None, "iterations": None,
                                 "batch_size": None, "lr": None, "subset": None, "val_fraction": None, "data_dir": None,
                                 "seed": None, **given})


def test_the_classic_networks_are_scored_at_the_searchs_defaults(monkeypatch):
    settings = _zoo_settings(_zoo_args(device="cpu", batch_size=64))
    assert (settings.epochs, settings.iterations, settings.batch_size) == (1.0, None, 64)
    assert settings.lr == pytest.approx(0.1 * math.sqrt(2))
    # on a GPU ("auto" finding one): the GPU defaults, as a search there takes them
    monkeypatch.setattr("nasbox.cli.score.resolve_device", lambda spec: torch.device("cuda", 0))
    settings = _zoo_settings(_zoo_args())
    epochs, batch = GPU_FIDELITY["cifar10"]
    assert (settings.device, settings.epochs, settings.batch_size) == ("cuda:0", epochs, batch)
    assert settings.lr == pytest.approx(0.1 * math.sqrt(batch / 32))
