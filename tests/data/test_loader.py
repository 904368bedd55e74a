"""Tests of nasbox.data.loader: the on-device loader (index slicing of a seeded permutation, batched augmentation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbox.data import (
    Data,
    DatasetSpec,
    DeviceLoader,
    Split,
    eval_batches,
    steps_per_epoch,
    torchvision_loader,
)
from nasbox.errors import ConfigError


def _index_split(n: int, shape: tuple[int, int, int] = (1, 12, 12)) -> Split:
    """Image ``i`` is filled with the value ``i``, labelled ``i % 10``; its centre survives any crop of padding 4."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, *shape).contiguous()
    return Split(images, torch.arange(n) % 10)


def _raw_spec(channels: int = 1, size: int = 12, num_classes: int = 10, hflip: bool = True) -> DatasetSpec:
    """mean 0, std 1: a batch times 255 gives back the uint8 pixels."""
    return DatasetSpec("test", (channels, size, size), num_classes, tuple(map(str, range(num_classes))),
                       (0.0,) * channels, (1.0,) * channels, 0, 0, 0, hflip)


def _indices_of(x: torch.Tensor) -> torch.Tensor:
    return (x[:, 0, 6, 6] * 255).round().long()


def test_steps_per_epoch() -> None:
    assert steps_per_epoch(1840, 8) == 230  # the design notes' example
    assert steps_per_epoch(100, 32, drop_last=True) == 3
    assert steps_per_epoch(100, 32, drop_last=False) == 4
    with pytest.raises(ConfigError):
        steps_per_epoch(100, 0)


@pytest.mark.parametrize("drop_last", [True, False])
def test_every_index_once_per_epoch_with_labels_aligned(drop_last: bool) -> None:
    split = _index_split(100)
    loader = DeviceLoader(split, _raw_spec(), 32, drop_last=drop_last, augment=True)
    batches = list(loader)
    assert len(batches) == len(loader) == steps_per_epoch(100, 32, drop_last)
    seen = torch.cat([_indices_of(x) for x, _ in batches])
    assert len(seen) == (96 if drop_last else 100) and len(set(seen.tolist())) == len(seen)
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(100))
    for x, y in batches:
        assert torch.equal(y, _indices_of(x) % 10)


def test_loader_is_deterministic_for_a_seed() -> None:
    split, spec = _index_split(100), _raw_spec()

    def epochs(seed: int, n: int = 2) -> list[torch.Tensor]:
        loader = DeviceLoader(split, spec, 25, seed=seed, augment=True)
        return [torch.cat([x for x, _ in loader]) for _ in range(n)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], first[1])  # a new order every epoch
    assert not torch.equal(first[0], other[0])
    resumed = DeviceLoader(split, spec, 25, seed=0, augment=True)
    resumed.set_epoch(1)
    assert torch.equal(torch.cat([x for x, _ in resumed]), first[1])


def _match(out: np.ndarray, original: np.ndarray, padding: int = 4) -> set[bool]:
    """Whether ``out`` is a crop of the zero-padded original (False), a mirrored one (True), or both."""
    padded = np.pad(original, ((0, 0), (padding, padding), (padding, padding)))
    h, w = original.shape[1:]
    found = set()
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            if np.array_equal(out, crop):
                found.add(False)
            if np.array_equal(out, crop[:, :, ::-1]):
                found.add(True)
    return found


@pytest.mark.parametrize("flip", [False, True])
def test_augmentation_crops_and_flips_only_when_allowed(flip: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 12, 12), dtype=torch.uint8, generator=gen)
    split = Split(images, torch.arange(64))
    loader = DeviceLoader(split, _raw_spec(3, 12, 64, hflip=True), 64, augment=True, flip=flip)
    x, y = next(iter(loader))
    assert x.shape == (64, 3, 12, 12)
    out = (x * 255).round().to(torch.uint8).numpy()
    matches = [_match(out[i], images[y[i]].numpy()) for i in range(64)]
    assert all(matches), "an augmented image is no crop of its labelled original"
    assert not torch.equal(x, images[y].float() / 255)
    mirrored = [True in m and False not in m for m in matches]
    if flip:
        assert 0 < sum(mirrored) < 64
    else:
        assert not any(mirrored)


def test_digits_are_never_flipped(mnist: Data) -> None:
    loader = DeviceLoader(mnist.train, mnist.spec, 64, augment=True)
    assert loader.flip is False
    plain = DeviceLoader(mnist.train, mnist.spec, 64, augment=True, crop_padding=0)
    x, y = next(iter(plain))  # no crop and no flip: augmentation is the identity
    reference = next(iter(DeviceLoader(mnist.train, mnist.spec, 64, augment=False)))
    assert torch.equal(x, reference[0]) and torch.equal(y, reference[1])


def test_normalised_batches_have_mean_zero_and_std_one(mnist: Data) -> None:
    loader = DeviceLoader(mnist.train, mnist.spec, 500, drop_last=False)
    x = torch.cat([batch for batch, _ in loader]).double()
    assert abs(x.mean().item()) < 1e-4 and x.std().item() == pytest.approx(1.0, abs=1e-3)


def test_dtype_channels_last_and_iteration_budget(mnist: Data) -> None:
    loader = DeviceLoader(mnist.train, mnist.spec, 128, dtype=torch.bfloat16, channels_last=True, augment=True)
    x, y = next(iter(loader))
    assert x.dtype == torch.bfloat16 and x.is_contiguous(memory_format=torch.channels_last) and y.dtype == torch.int64
    small = DeviceLoader(_index_split(100), _raw_spec(), 32)
    assert sum(1 for _ in small.iterate(7)) == 7 and small.epoch == 3  # 3 batches an epoch
    with pytest.raises(ConfigError, match="larger than the 4050 training images"):
        DeviceLoader(mnist.train, mnist.spec, 5000)


def test_eval_batches_are_in_order_without_augmentation(mnist: Data) -> None:
    batches = list(eval_batches(mnist.val, mnist.spec, 200))
    assert [len(y) for _, y in batches] == [200, 200, 50]
    assert torch.equal(torch.cat([y for _, y in batches]), mnist.val.labels)
    mean, std = mnist.spec.mean[0], mnist.spec.std[0]
    assert torch.allclose(batches[0][0], (mnist.val.images[:200].float() / 255 - mean) / std, atol=1e-5)
    loader = DeviceLoader(mnist.train, mnist.spec, 100, augment=True)
    assert torch.equal(next(iter(loader.eval_batches(mnist.val)))[0], batches[0][0][:100])


def test_torchvision_loader_matches_the_device_path(mnist: Data) -> None:
    loader = torchvision_loader(mnist, 100, augment=False, split="val")
    x, y = next(iter(loader))
    expected, labels = next(eval_batches(mnist.val, mnist.spec, 100))
    assert torch.allclose(x, expected, atol=1e-5) and torch.equal(y, labels)
    x, y = next(iter(torchvision_loader(mnist, 64, augment=True)))
    assert x.shape == (64, 1, 28, 28) and y.dtype == torch.int64
