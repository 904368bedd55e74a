"""Helpers shared by the train tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch

import nasbox.train.full

CPU = torch.device("cpu")


SHAPE = (3, 16, 16)


def native_cpu_bf16() -> bool:
    """What torch reports about native bf16 arithmetic on this CPU (AVX-512 BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (torch.Tensor, str, int, float, bool))


def _rewrite(src: Path, dst: Path, **changes) -> Path:
    raw = torch.load(src, map_location="cpu", weights_only=True)
    raw.update(changes)
    torch.save(raw, dst)
    return dst


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plain_save(path: Path) -> Path:
    torch.save({"model": {}}, path)
    return path


# fp32, no channels_last: bit-exact on the CPU, so a resumed run can be compared with an uninterrupted one
FP32 = {"batch_size": 32, "amp": "off", "channels_last": "off"}


class _TestCounter:
    """``evaluate`` that counts its calls on the test split."""

    def __init__(self, data):
        self.test_ptr = data.test.images.data_ptr()
        self.test_calls = 0
        self.real = nasbox.train.full.evaluate

    def __call__(self, model, split, *args, **kwargs):
        self.test_calls += split.images.data_ptr() == self.test_ptr
        return self.real(model, split, *args, **kwargs)


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
