"""Device memory for candidates trained side by side: an estimate per candidate and a ledger per device.

Several workers may train on one GPU at once (``--workers N`` beyond the number of GPUs). Each estimates
what its candidate needs (:func:`training_bytes`, from the analysis alone) and reserves it in the device's
:class:`MemoryLedger` before training; a reservation waits while the others' and its own would exceed the
device's budget, or while the device's free memory (what the driver reports: other programs, and the
blocks that workers' allocators keep cached, are in it) is less than it needs, and one that alone exceeds
them runs once it is alone (an out-of-memory error is then the candidate's failure, recorded with its
reason, as always). Reservations of processes that died are dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from nasbox.device import slot_name
from nasbox.files import cache_dir, update_file
from nasbox.model.analysis import Analysis

__all__ = ["CONTEXT_BYTES", "MemoryLedger", "training_bytes"]

_log = logging.getLogger(__name__)

#: what a process holds on a GPU besides its tensors (CUDA context, cuDNN workspaces), counted per reservation
CONTEXT_BYTES = 600 * 2**20


def training_bytes(info: Analysis, batch_size: int, *, bf16: bool) -> int:
    """An estimate of a candidate's training memory: fp32 weights, gradients and momentum (12 bytes a
    parameter) and the activations kept for the backward pass (every layer's output, about three tensors
    a layer: convolution, normalisation, activation) for ``batch_size`` images."""
    activations = sum(math.prod(layer.out_shape) for layer in info.layers)
    return 12 * info.params + 3 * activations * batch_size * (2 if bf16 else 4)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


class MemoryLedger:
    """The reservations of one device's memory by the processes that train on it.

    Args:
        device: the device; CPUs have no ledger (:meth:`reserve` returns at once).
        budget: bytes the reservations may add up to (default 90 % of a GPU's memory).
        directory: where the ledger lives (default ``<cache>/slots``).
        name: the ledger's name instead of the device's (tests).
        poll_s: how often a waiting reservation looks again.
        free: ``free() -> bytes`` the device has free now (default on a GPU: ``torch.cuda.mem_get_info``).
    """

    def __init__(self, device: Any, *, budget: int | None = None, directory: Path | None = None,
                 name: str | None = None, poll_s: float = 0.2, free: Callable[[], int] | None = None) -> None:
        device = torch.device(device)
        if budget is None and device.type == "cuda":
            budget = int(0.9 * torch.cuda.get_device_properties(device).total_memory)
        if free is None and device.type == "cuda":
            free = lambda: torch.cuda.mem_get_info(device)[0]  # noqa: E731
        self.budget, self.free = budget, free
        self.path = (directory or cache_dir() / "slots") / f"{name or slot_name(device)}.memory.json"
        self.poll_s = poll_s
        self.key = str(os.getpid())

    def _update(self, mine: int | None, *, release: bool = False, free_needed: int = 0) -> tuple[bool, dict[str, int]]:
        """Reserve ``mine`` bytes if they fit (in the budget, and ``free_needed`` in the device's free memory), or
        ``release`` this process's reservation, or (neither) only drop those of dead processes; returns whether
        ``mine`` fit and the table."""
        fits = {"ok": True}

        def update(old: str | None) -> str:
            table = {k: int(v) for k, v in (json.loads(old) if old else {}).items() if _alive(int(k))}
            if mine is not None or release:
                table.pop(self.key, None)
            if mine is not None:
                fits["ok"] = not table or (sum(table.values()) + mine <= self.budget
                                           and (self.free is None or self.free() >= free_needed))
                if fits["ok"]:
                    table[self.key] = mine
            return json.dumps(table, sort_keys=True)

        table = json.loads(update_file(self.path, update))  # before reading fits: update sets it
        return fits["ok"], table

    @contextlib.contextmanager
    def reserve(self, nbytes: int, timeout_s: float | None = None) -> Iterator[float]:
        """Hold ``nbytes`` (plus the process's context) of the device while training; yields the seconds waited.

        Raises:
            TimeoutError: ``timeout_s`` passed while the others' reservations left too little.
        """
        if self.budget is None:
            yield 0.0
            return
        t0 = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # an unwritable cache: no ledger (workers may then overfill the device)
            _log.warning("no device memory ledger (%s): workers sharing the device do not wait for memory", exc)
            yield 0.0
            return
        while not self._update(nbytes + CONTEXT_BYTES, free_needed=nbytes)[0]:  # its own context exists already
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"{nbytes / 2**20:,.0f} MiB of device memory stayed taken by other workers")
            time.sleep(self.poll_s)
        try:
            yield time.monotonic() - t0
        finally:
            self._update(None, release=True)

    def reservations(self) -> dict[str, int]:
        """The live reservations, by process."""
        return self._update(None)[1] if self.path.exists() else {}
