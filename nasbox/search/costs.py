"""Step 3 of a trial, *measure*: the costs of a built candidate that its genotype does not give.

Latency is measured on a fresh copy of the model (before the MAC counts trace it and
before training), or predicted from the device's per-block lookup table (``--latency
predict``); fvcore's MAC count (the reference the analysis is held to) and thop's are
stored beside the analytic ones.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from nasbox.evaluate.base import Candidate
from nasbox.evaluate.classics import measure_classics
from nasbox.measure.counts import count_macs, count_macs_thop
from nasbox.measure.latency import measure_latency
from nasbox.measure.latency_table import LatencyTable
from nasbox.measure.slot import DeviceSlot
from nasbox.study.schema import Attr

__all__ = ["CostMeter"]


class CostMeter:
    """Measures (or predicts) a candidate's latency and counts its MACs on ``device``."""

    def __init__(self, device: Any, *, threads: int = 1, predict: bool = False, slot: DeviceSlot | None = None) -> None:
        self.device, self.threads, self.predict = device, threads, predict
        self.slot = slot  # held while a latency is timed: no other process trains on the device then
        self._table: LatencyTable | None = None

    @property
    def table(self) -> LatencyTable:
        """This device's per-block latency table (``--latency predict`` and pre-screening), opened once."""
        if self._table is None:
            self._table = LatencyTable.open(self.device, threads=self.threads)
        return self._table

    def predicted_ms(self, arch: Any) -> float:
        return self.table.predict(arch).ms

    def classics(self, input_shape: tuple[int, int, int], num_classes: int) -> dict[str, dict[str, Any]]:
        """The classic networks' batch-1 latency at this input on this device (see :mod:`nasbox.evaluate.classics`)."""
        return measure_classics(input_shape, num_classes, self.device, threads=self.threads)

    def measure(self, candidate: Candidate) -> dict[str, Any]:
        """The trial attributes of the candidate's latency and traced MAC counts."""
        model, arch = candidate.model, candidate.arch
        t0 = time.perf_counter()
        with self.slot.measuring() if self.slot is not None else contextlib.nullcontext():
            out = self._latency(model, arch)
        t1 = time.perf_counter()
        out[Attr.MACS_FVCORE] = count_macs(model, arch.input_shape)  # on the CPU: no slot needed
        out[Attr.MACS_THOP] = count_macs_thop(model, arch.input_shape)
        out.update(latency_seconds=t1 - t0, count_seconds=time.perf_counter() - t1)
        return out

    def _latency(self, model: Any, arch: Any) -> dict[str, Any]:
        if self.predict:
            predicted = self.table.predict(arch, model)
            out = {Attr.LATENCY_MS: predicted.ms, Attr.LATENCY_SOURCE: "predicted",
                   "latency_units_measured": predicted.new_units}
        else:
            latency = measure_latency(model, arch.input_shape, device=self.device, threads=self.threads)
            out = {Attr.LATENCY_MS: latency.median_ms, Attr.LATENCY_IQR_MS: latency.iqr_ms,
                   Attr.LATENCY_THREADS: latency.threads, Attr.LATENCY_SOURCE: "measured"}
        return out
