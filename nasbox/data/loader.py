"""Batches on the device (:class:`DeviceLoader`, :func:`eval_batches`) and the torchvision baseline."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasbox.data.containers import Data, DatasetSpec, Split
from nasbox.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- batches on the device


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = True) -> int:
    """Number of batches (iterations) in one pass over ``n`` samples."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _augment(x: torch.Tensor, generator: torch.Generator, padding: int, flip: bool) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip, for a whole uint8 batch at once.

    The crop is a single gather: per sample a random offset ``(dy, dx)`` in ``[0, 2 * padding]``
    picks rows and columns of the padded batch; a flip reverses that sample's column indices
    (``torch.where`` on a per-sample mask), so flipping costs nothing extra. Zero padding before
    normalisation is what torchvision's ``RandomCrop(padding=...)`` does. The result has the
    input's shape, in channels-last memory order.
    """
    b, _, h, w = x.shape
    device = x.device
    padded = F.pad(x, (padding,) * 4) if padding else x
    padded = padded.permute(0, 2, 3, 1)  # B x H' x W' x C
    dy = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=device)
    rows = dy + torch.arange(h, device=device)
    cols = dx + torch.arange(w, device=device)
    if flip:
        mirrored = torch.rand(b, 1, generator=generator, device=device) < 0.5
        cols = torch.where(mirrored, cols.flip(1), cols)
    batch = torch.arange(b, device=device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class _Normalise:
    """``(x / 255 - mean) / std`` as one multiply-add per element, then dtype and memory format."""

    def __init__(self, spec: DatasetSpec, device: torch.device, dtype: torch.dtype, channels_last: bool) -> None:
        if not dtype.is_floating_point:
            raise ConfigError(f"the batch dtype must be a floating-point type, got {dtype}")
        mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale, self.shift = 1 / (255 * std), -mean / std
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addcmul(self.shift, x.to(torch.float32), self.scale).to(self.dtype)
        return out.contiguous(memory_format=self.memory_format)


def eval_batches(
    split: Split,
    spec: DatasetSpec,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised batches of ``split`` in order, without augmentation, the last one possibly short.

    Args:
        split: the split to evaluate (moved to ``device`` if it is elsewhere; keep it there
            with :meth:`Split.to` to avoid a copy per call).
        spec: the dataset's spec (normalisation statistics).
        batch_size: images per batch.
        device: where the batches are made; default the split's device.
        dtype: floating-point dtype of the images.
        channels_last: return images in channels-last memory format.

    Yields:
        ``(images, labels)``: float ``B x C x H x W`` and int64 ``B``.
    """
    steps_per_epoch(len(split), batch_size)  # validates batch_size
    split = split.to(device) if device is not None else split
    normalise = _Normalise(spec, split.device, dtype, channels_last)
    for start in range(0, len(split), batch_size):
        yield normalise(split.images[start:start + batch_size]), split.labels[start:start + batch_size]


class DeviceLoader:
    """Training batches made entirely on the device from a uint8 split held there.

    Each pass (``iter(loader)``) is one epoch: a ``torch.randperm`` drawn from the loader's own
    generator, reseeded from ``(seed, epoch)`` so an epoch's order and augmentation do not
    depend on how much of the previous one was used; batches are index slices of it. Per
    batch: optional random crop (zero padding ``crop_padding``) and horizontal flip in one
    batched gather (see :func:`_augment`), conversion to float, normalisation with the spec's
    mean and std, then ``dtype`` and memory format.

    Args:
        split: the training split (moved to ``device`` once).
        spec: the dataset's spec (normalisation, whether flips are sensible).
        batch_size: images per batch.
        device: where the data lives and batches are made; default the split's device.
        shuffle: draw a new order every epoch (else the split's order).
        augment: apply random crop and (where sensible) horizontal flip.
        crop_padding: zero padding of the random crop; 0 turns the crop off.
        flip: horizontal flips when augmenting; default ``spec.hflip`` (never for digits).
        drop_last: drop the last, short batch of an epoch (for training).
        seed: seed of the order and augmentation.
        dtype: floating-point dtype of the images (e.g. ``torch.bfloat16``).
        channels_last: return images in channels-last memory format.

    Raises:
        ConfigError: ``batch_size`` is not positive, or larger than the split with ``drop_last``.
    """

    def __init__(
        self,
        split: Split,
        spec: DatasetSpec,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        shuffle: bool = True,
        augment: bool = False,
        crop_padding: int = 4,
        flip: bool | None = None,
        drop_last: bool = True,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        if steps_per_epoch(len(split), batch_size, drop_last) == 0:
            raise ConfigError(f"--batch-size {batch_size} is larger than the {len(split)} training images; "
                              f"lower --batch-size or use more data")
        if crop_padding < 0:
            raise ConfigError(f"crop padding must be >= 0, got {crop_padding}")
        self.split = split.to(device) if device is not None else split
        self.device = self.split.device
        self.spec = spec
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.crop_padding = crop_padding
        self.flip = spec.hflip if flip is None else flip
        self.drop_last = drop_last
        self.seed = seed
        self.dtype = dtype
        self.channels_last = channels_last
        self.epoch = 0
        self._normalise = _Normalise(spec, self.device, dtype, channels_last)

    def __len__(self) -> int:
        """Batches per epoch."""
        return steps_per_epoch(len(self.split), self.batch_size, self.drop_last)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` epoch number ``epoch`` (to resume)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of ``(images, labels)`` batches; advances :attr:`epoch`."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self._epoch(epoch)

    def iterate(self, num_steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Exactly ``num_steps`` batches, running over as many epochs as that takes (iteration budgets)."""
        while num_steps > 0:
            for batch in self:
                yield batch
                num_steps -= 1
                if num_steps == 0:
                    return

    def _epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(_epoch_seed(self.seed, epoch))
        n = len(self.split)
        order = (torch.randperm(n, generator=generator, device=self.device) if self.shuffle
                 else torch.arange(n, device=self.device))
        for step in range(len(self)):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            images = self.split.images[index]
            if self.augment and (self.crop_padding or self.flip):
                images = _augment(images, generator, self.crop_padding, self.flip)
            yield self._normalise(images), self.split.labels[index]

    def eval_batches(self, split: Split, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of another split (validation, test) as :func:`eval_batches` makes them, on this device."""
        return eval_batches(split, self.spec, batch_size or self.batch_size, device=self.device, dtype=self.dtype,
                            channels_last=self.channels_last)


# ----------------------------------------------------------------------------- torchvision baseline


class _TransformDataset(torch.utils.data.Dataset):
    """A uint8 split served image by image through a torchvision transform (picklable for workers)."""

    def __init__(self, split: Split, transform: Any) -> None:
        self.images = split.images.cpu()
        self.labels = split.labels.cpu()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), int(self.labels[i])


def torchvision_loader(
    data: Data,
    batch_size: int,
    augment: bool,
    num_workers: int = 0,
    *,
    split: str = "train",
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """The conventional ``DataLoader`` + PIL-transform path over the same uint8 tensors, for benchmarks.

    Per image: ``ToPILImage``, then when augmenting ``RandomCrop(size, padding=4)`` and (if
    ``data.spec.hflip``) ``RandomHorizontalFlip``, then ``ToTensor`` and ``Normalize`` with the
    spec's mean and std, so its batches follow the same distribution as :class:`DeviceLoader`'s.

    Args:
        data: the loaded dataset.
        batch_size: images per batch.
        augment: apply random crop and flip.
        num_workers: ``DataLoader`` worker processes.
        split: ``"train"`` (shuffled, last short batch dropped), ``"val"`` or ``"test"`` (in order).
        seed: seed of the shuffle.

    Raises:
        DataError: the requested split does not exist.
    """
    from torchvision import transforms as T

    chosen = {"train": data.train, "val": data.val, "test": data.test}.get(split)
    if chosen is None:
        raise DataError(f"dataset {data.spec.name} has no {split!r} split; use 'train', 'val' or 'test' where present")
    _, h, w = data.spec.input_shape
    steps: list[Any] = [T.ToPILImage()]
    if augment:
        steps.append(T.RandomCrop((h, w), padding=4))
        if data.spec.hflip:
            steps.append(T.RandomHorizontalFlip())
    steps += [T.ToTensor(), T.Normalize(data.spec.mean, data.spec.std)]
    training = split == "train"
    return torch.utils.data.DataLoader(
        _TransformDataset(chosen, T.Compose(steps)),
        batch_size=batch_size,
        shuffle=training,
        drop_last=training,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,
    )
