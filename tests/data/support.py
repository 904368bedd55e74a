"""Helpers shared by the data tests: class counts, and a CIFAR-10 batch folder written by hand."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from nasbox.data import (
    CIFAR10_CLASSES,
    Split,
)


def _class_counts(split: Split, num_classes: int) -> np.ndarray:
    return np.bincount(split.labels.numpy(), minlength=num_classes)


def _assert_proportional(counts: np.ndarray, totals: np.ndarray) -> None:
    """Each class's count within one image of its proportional share of the split's size."""
    expected = counts.sum() * totals / totals.sum()
    assert np.all(np.abs(counts - expected) <= 1), (counts, expected)


def _write_cifar(root: Path, per_batch: int = 12, str_keys: bool = False) -> dict[str, np.ndarray]:
    """The official layout, pickled like the official batches (protocol 2, bytes keys)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in np.arange(per_batch) % 10]
        batch = {key("batch_label"): name.encode(), key("labels"): labels, key("data"): data,
                 key("filenames"): [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = data
    meta = {key("label_names"): [n.encode() for n in CIFAR10_CLASSES], key("num_cases_per_batch"): per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


class _Payload:
    """Pickles as a call of ``fn(*args)``: what a malicious pickle does on load."""

    def __init__(self, fn: object, args: tuple) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple:
        return self.fn, self.args


class _Custom:
    """A plain class instance: not plain data."""
