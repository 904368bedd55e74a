"""Tests of nasbox.data.cifar: the official python batches, safe unpickling, checksums and safe extraction."""

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

from nasbox.data import (
    CIFAR10_CLASSES,
    _verify_and_extract,
    load_dataset,
)
from nasbox.errors import DataError
from tests.data.support import _Custom, _Payload, _write_cifar


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
