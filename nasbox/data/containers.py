"""The containers of a loaded dataset: :class:`DatasetSpec`, :class:`Split`, :class:`Data` (and readers' ``_Raw``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class DatasetSpec:
    """What a model and a report need to know about a loaded dataset.

    Attributes:
        name: the dataset's name, one of :data:`DATASETS`.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        class_names: one name per label.
        mean: per-channel mean of the training split, on the 0..1 scale.
        std: per-channel (population) standard deviation of the training split, 0..1 scale.
        train_size: images in the training split.
        val_size: images in the validation split.
        test_size: images in the test split (0 when there is none).
        hflip: whether a horizontal flip keeps an image's label (photos yes, digits no);
            :class:`DeviceLoader` flips only when this is true.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int
    val_size: int
    test_size: int
    hflip: bool

    def __post_init__(self) -> None:
        channels = self.input_shape[0]
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) of positive ints, got {self.input_shape=}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"need one class name per class, got {self.num_classes=} and {self.class_names=}")
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"need one mean and std per channel, got {self.mean=} and {self.std=}")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std=}")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset: uint8 images ``N x C x H x W`` and int64 labels ``N``, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 N x C x H x W, got {self.images.dtype=} {self.images.shape=}")
        if self.labels.dtype != torch.int64 or self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise ValueError(f"labels must be int64 of length {len(self.images)}, got {self.labels.dtype=} "
                             f"{self.labels.shape=}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        """The device the tensors live on."""
        return self.images.device

    def to(self, device: torch.device | str) -> Split:
        """This split on ``device`` (the same tensors when they are already there)."""
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True, eq=False)
class Data:
    """A loaded dataset: its spec and its training, validation and (optional) test splits."""

    spec: DatasetSpec
    train: Split
    val: Split
    test: Split | None

    def to(self, device: torch.device | str) -> Data:
        """All splits on ``device``."""
        test = self.test.to(device) if self.test is not None else None
        return Data(self.spec, self.train.to(device), self.val.to(device), test)


@dataclass
class _Raw:
    """What a dataset reader hands back before splitting (numpy, uint8 N x C x H x W)."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None
    val: tuple[np.ndarray, np.ndarray] | None
    class_names: tuple[str, ...]
    hflip: bool
    carve_test: bool
