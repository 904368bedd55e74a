"""The device a search runs on, and what names it: resolution, its model, and the keys of its caches.

Every part of nasbox that picks a device, names it in a report or keys a cache by it uses these: a latency
table and the classic networks' latencies are valid for one device model, thread count and PyTorch version
(:func:`device_key`, :func:`device_file`); the processes sharing one device agree on its name through its UUID
(:func:`slot_name`), whatever their ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import Any

import torch

from nasbox.errors import ConfigError
from nasbox.files import cache_dir

__all__ = ["device_file", "device_key", "device_name", "resolve_device", "slot_name"]


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> the first CUDA GPU if there is one, else the CPU; checks ``cuda:i``.

    Raises:
        ConfigError: an unknown device, or a GPU asked for that is not there.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} asked for, but no CUDA GPU is available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r} does not exist: {torch.cuda.device_count()} GPU(s) visible")
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {spec!r}; use auto, cpu, cuda or cuda:N")
    return device


def device_name(device: str | torch.device) -> str:
    """The device's model: the GPU's name, or the CPU's from ``/proc/cpuinfo``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_key(device: str | torch.device, threads: int = 1) -> str:
    """What a per-device cache of latencies is valid for: the device model, CPU threads and PyTorch version."""
    device = torch.device(device)
    name = device_name(device)
    if device.type != "cuda":
        name += f" {threads} thread{'s' if threads != 1 else ''}"
    return f"{device.type} {name} torch {torch.__version__.split('+')[0]}"


def device_file(folder: str, device: str | torch.device, threads: int = 1, directory: Path | None = None) -> Path:
    """``<cache>/<folder>/<device key as a file name>.json``: a per-device cache of latencies (the
    lookup table in ``latency/``, the classic networks' in ``zoo-latency/``)."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", device_key(device, threads)).strip("-").lower()
    return (directory or cache_dir()) / folder / f"{slug}.json"


def slot_name(device: Any) -> str:
    """What processes sharing ``device`` call it: ``cpu``, or ``gpu-<uuid>``."""
    device = torch.device(device)
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return f"gpu-{uuid}" if uuid is not None else f"cuda{index}"
