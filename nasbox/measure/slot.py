"""A device-wide measuring slot: no candidate trains on a device while another process times a latency there.

Workers that share a machine (``--workers N``, several searches) share its devices, and a latency timed
while another process trains on the same GPU (or the same CPU cores) measures the contention, not the
network. :class:`DeviceSlot` is a writer-preferring readers-writer lock over two ``flock`` files per device
in ``<cache>/slots/`` (released by the OS if a process dies): trainers hold the *steps* lock shared and
give it up at their next :meth:`~DeviceSlot.pause_point` (a host sync every few steps) when a measurer
waits; a measurer first takes the *turn* lock, so that no new trainer starts, then the steps lock
exclusively. Training never waits for training, and a measurement waits for at most a few steps.

A device is named by what the processes share: ``cpu`` for the host's cores, the GPU's UUID for a GPU
(so that processes with other ``CUDA_VISIBLE_DEVICES`` agree).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nasbox.device import slot_name
from nasbox.files import cache_dir

__all__ = ["DeviceSlot"]

_log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process slot (measurements may then overlap training)
    fcntl = None  # type: ignore[assignment]


class DeviceSlot:
    """The measuring slot of one device (see the module docstring).

    Args:
        device: the device (``torch.device`` or its name).
        directory: where the lock files live (default ``<cache>/slots``).
        name: the slot's name instead of :func:`nasbox.device.slot_name` (tests).
    """

    def __init__(self, device: Any, directory: Path | None = None, name: str | None = None) -> None:
        self.device = torch.device(device)
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", name or slot_name(self.device))
        folder = directory or cache_dir() / "slots"
        self.enabled = fcntl is not None
        self._turn_path, self._steps_path = folder / f"{slug}.turn", folder / f"{slug}.steps"
        self._turn = self._steps = None
        self._training = 0  # nesting depth of training()

    def _files(self) -> tuple[Any, Any]:
        return self._turn, self._steps

    def _ready(self) -> bool:
        """Whether the slot works: its lock files open (an unwritable cache turns it off, with a warning:
        measurements may then overlap other processes' training, as before the slot)."""
        if self.enabled and self._turn is None:
            try:
                self._turn_path.parent.mkdir(parents=True, exist_ok=True)
                self._turn, self._steps = open(self._turn_path, "a+"), open(self._steps_path, "a+")  # noqa: SIM115
            except OSError as exc:
                _log.warning("no device measuring slot (%s): latencies may overlap other workers' training", exc)
                self.enabled = False
        return self.enabled

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        """Hold the device alone: wait for the trainers' next pause point, keep new ones out."""
        if self._training or not self._ready():  # this process trains: it is not training while it measures
            yield
            return
        turn, steps = self._files()
        fcntl.flock(turn, fcntl.LOCK_EX)
        try:
            fcntl.flock(steps, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(steps, fcntl.LOCK_UN)
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """Train on the device (shared with other trainers); call :meth:`pause_point` every few steps."""
        if self._training or not self._ready():
            self._training += 1
            try:
                yield
            finally:
                self._training -= 1
            return
        self._enter()
        self._training = 1
        try:
            yield
        finally:
            self._training = 0
            fcntl.flock(self._files()[1], fcntl.LOCK_UN)

    def _enter(self) -> None:
        turn, steps = self._files()
        fcntl.flock(turn, fcntl.LOCK_SH)  # waits while a measurer holds the turn
        try:
            fcntl.flock(steps, fcntl.LOCK_SH)
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)

    def waiting(self) -> bool:
        """Whether a measurer holds the turn (and waits for the trainers)."""
        if not self._ready():
            return False
        turn = self._files()[0]
        try:
            fcntl.flock(turn, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(turn, fcntl.LOCK_UN)
        return False

    def pause_point(self) -> bool:
        """Inside :meth:`training`: when a measurer waits, finish the queued work, step aside until it is
        done, and go on. Returns whether it paused."""
        if not self.enabled or not self._training or not self.waiting():
            return False
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # the queued steps run before the measurement starts
        fcntl.flock(self._files()[1], fcntl.LOCK_UN)
        self._enter()
        return True
