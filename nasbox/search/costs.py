"""Step 3 of a trial, *measure*: the costs of a built candidate that its genotype does not give.

Latency is measured on a fresh copy of the model (before the MAC counts trace it and
before training), or predicted from the device's per-block lookup table (``--latency
predict``); fvcore's MAC count (the reference the analysis is held to) and thop's are
stored beside the analytic ones.

The traced counts decide nothing in the trial (constraints use the analytic counts), so
on a GPU they are taken off the trial's critical path: a helper process on the CPU
traces the candidate while the GPU trains it (:meth:`CostMeter.count_later`). On a CPU
they are counted in the worker before training, which would otherwise compete with them
for the cores.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from typing import Any

import torch

from nasbox.evaluate.base import Candidate
from nasbox.measure.counts import count_macs, count_macs_thop
from nasbox.measure.latency import measure_latency
from nasbox.measure.latency_table import LatencyTable
from nasbox.measure.slot import DeviceSlot
from nasbox.model.build import build_model
from nasbox.study.schema import Attr
from nasbox.zoo.latency import measure_classics

__all__ = ["CostMeter", "count_costs"]


def count_costs(model: Any, input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """fvcore's and thop's MAC counts of a built model, and the seconds they took."""
    t0 = time.perf_counter()
    return {Attr.MACS_FVCORE: count_macs(model, input_shape), Attr.MACS_THOP: count_macs_thop(model, input_shape),
            "count_seconds": time.perf_counter() - t0}


def _count_arch(arch: Any) -> dict[str, Any]:  # in the helper process: the counts need no trained weights
    return count_costs(build_model(arch, seed=0), arch.input_shape)


def _helper_start() -> None:
    """The helper process: one thread; Ctrl-C is the worker's to handle (it stops the helper)."""
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


class _Counted:
    """The MAC counts of a candidate: counted now, or being counted in the helper process."""

    def __init__(self, meter: CostMeter, candidate: Candidate, future: Future | None) -> None:
        self._meter, self._candidate, self._future = meter, candidate, future
        self._now = count_costs(candidate.model, candidate.arch.input_shape) if future is None else None

    def result(self) -> dict[str, Any]:
        if self._now is None:
            try:
                self._now = self._future.result()
            except Exception as exc:  # noqa: BLE001 - a lost helper, an arch it cannot send: count here
                if isinstance(exc, BrokenExecutor):  # the helper died: the next candidate starts another
                    self._meter.close()
                c = self._candidate  # brief training takes the model it trains from the candidate
                self._now = _count_arch(c.arch) if c.model is None else count_costs(c.model, c.arch.input_shape)
        return self._now


class CostMeter:
    """Measures (or predicts) a candidate's latency and counts its MACs on ``device``."""

    def __init__(self, device: Any, *, threads: int = 1, predict: bool = False, slot: DeviceSlot | None = None) -> None:
        self.device, self.threads, self.predict = device, threads, predict
        self.slot = slot  # held while a latency is timed: no other process trains on the device then
        self._table: LatencyTable | None = None
        self._helper: ProcessPoolExecutor | None = None
        self._timed = False  # a latency was timed in this process: a GPU's clocks are up

    @property
    def on_gpu(self) -> bool:
        return torch.device(self.device).type == "cuda"

    @property
    def overlap_counts(self) -> bool:
        """Whether the traced MAC counts run beside training: on a GPU (on a CPU they would compete with it)."""
        return self.on_gpu

    @property
    def table(self) -> LatencyTable:
        """This device's per-block latency table (``--latency predict`` and pre-screening), opened once."""
        if self._table is None:
            self._table = LatencyTable.open(self.device, threads=self.threads)
        return self._table

    def predicted_ms(self, arch: Any) -> float:
        return self.table.predict(arch).ms

    def classics(self, input_shape: tuple[int, int, int], num_classes: int) -> dict[str, dict[str, Any]]:
        """The classic networks' batch-1 latency at this input on this device (see :mod:`nasbox.zoo.latency`)."""
        return measure_classics(input_shape, num_classes, self.device, threads=self.threads)

    def measure(self, candidate: Candidate) -> dict[str, Any]:
        """The trial attributes of the candidate's latency and traced MAC counts (counted now)."""
        return {**self.time(candidate), **count_costs(candidate.model, candidate.arch.input_shape)}

    def time(self, candidate: Candidate) -> dict[str, Any]:
        """The trial attributes of the candidate's latency, timed in the device's measuring slot."""
        t0 = time.perf_counter()
        with self.slot.measuring() if self.slot is not None else contextlib.nullcontext():
            out = self._latency(candidate.model, candidate.arch)
        return {**out, "latency_seconds": time.perf_counter() - t0}

    def count_later(self, candidate: Candidate) -> _Counted:
        """The candidate's traced MAC counts: ``.result()`` gives them. On a GPU they are being
        counted in a helper process meanwhile; on a CPU they are counted now."""
        if not self.overlap_counts:
            return _Counted(self, candidate, None)
        try:
            if self._helper is None:
                self._helper = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                   initializer=_helper_start)
            return _Counted(self, candidate, self._helper.submit(_count_arch, candidate.arch))
        except Exception as exc:  # noqa: BLE001 - no helper process (it died, no /dev/shm): count here
            if isinstance(exc, BrokenExecutor):  # the next candidate starts another
                self.close()
            return _Counted(self, candidate, None)

    def close(self) -> None:
        """Stop the helper process, if one was started."""
        if self._helper is not None:
            self._helper.shutdown(wait=False, cancel_futures=True)
            self._helper = None

    def _latency(self, model: Any, arch: Any) -> dict[str, Any]:
        if self.predict:
            predicted = self.table.predict(arch, model)
            out = {Attr.LATENCY_MS: predicted.ms, Attr.LATENCY_SOURCE: "predicted",
                   "latency_units_measured": predicted.new_units}
        else:
            # the first timing on a GPU waits out the clocks' ramp-up (measure_latency's floor); after that the
            # GPU has been training or timing since, as the latency table's unit timings assume
            warm = {"min_warmup_s": 0.05} if self._timed and self.on_gpu else {}
            latency = measure_latency(model, arch.input_shape, device=self.device, threads=self.threads, **warm)
            self._timed = True
            out = {Attr.LATENCY_MS: latency.median_ms, Attr.LATENCY_IQR_MS: latency.iqr_ms,
                   Attr.LATENCY_THREADS: latency.threads, Attr.LATENCY_SOURCE: "measured"}
            if torch.device(latency.device).type == "cuda":  # which timing: a study can tell graphed from eager ones
                out[Attr.LATENCY_CUDA_GRAPH] = latency.cuda_graph
        return out
