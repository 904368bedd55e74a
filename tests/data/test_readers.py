"""Tests of nasbox.data.readers: a user's image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasbox.data import (
    load_dataset,
)
from nasbox.errors import DataError
from tests.data.support import _class_counts


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
