"""Datasets as uint8 tensors, seeded stratified splits, and a data path that stays on the device.

:func:`load_dataset` turns one of the datasets of :data:`DATASETS` into a :class:`Data`: a
:class:`DatasetSpec` (shape, classes, normalisation statistics, split sizes) and three
:class:`Split` s of uint8 images and int64 labels. Splits are made once, seeded and stratified:

1. the *test* split: the dataset's own (CIFAR-10's ``test_batch``, an image folder's ``test/``),
   or, for datasets without one (``mnist5k``, ``synthetic``), a stratified ``test_fraction``
   carved with a fixed seed, so the test images are the same whatever ``seed`` a search uses;
2. ``subset=N``: a seeded, stratified subset of N of the remaining training images;
3. the *validation* split: a seeded, stratified ``val_fraction`` of those (an image folder's
   ``val/`` instead, where it has one). The rest is the *training* split.

The search reads only the training and validation splits; the test split is for the final
``nasbox train``. :class:`DeviceLoader` then serves training batches the way the fastest
CIFAR-10 trainers do: the whole split lives on the device as uint8, an epoch is a seeded
``torch.randperm``, a batch is an index slice, and random crop and horizontal flip are one
batched gather on the device, with no per-image Python work. :func:`torchvision_loader`
builds the conventional ``DataLoader`` + PIL-transform path over the same tensors, for
benchmarks.
"""

from __future__ import annotations

from nasbox.data.cifar import CIFAR10_CLASSES, CIFAR10_MD5, CIFAR10_URL, default_data_dir
from nasbox.data.cifar import _verify_and_extract as _verify_and_extract  # private, imported by tests
from nasbox.data.containers import Data, DatasetSpec, Split
from nasbox.data.datasets import DATASETS, load_dataset
from nasbox.data.datasets import _stratified_split as _stratified_split  # private, imported by tests
from nasbox.data.loader import DeviceLoader, eval_batches, steps_per_epoch, torchvision_loader
from nasbox.data.readers import IMAGE_EXTENSIONS
from nasbox.data.readers import _mnist5k_arrays as _mnist5k_arrays  # private, imported by tests

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "Data",
    "DatasetSpec",
    "DeviceLoader",
    "Split",
    "default_data_dir",
    "eval_batches",
    "load_dataset",
    "steps_per_epoch",
    "torchvision_loader",
]
