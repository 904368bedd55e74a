"""Latency predictor: a lookup table of per-block latencies on the measuring device.

A network's batch-1 latency is predicted as the sum of the latencies of its *units* -- the
input resize, every block, every stage pool and the head -- each measured once, in
isolation, on the device, for its exact configuration and input shape (the lookup-table
approach of ProxylessNAS, FBNet and Once-for-All). Units repeat across candidates (the
same block type, widths and feature-map size), so after a few candidates most of a new
one's units are known and its latency costs no measurement at all.

A network is slower than the sum of its units measured alone: a unit timed in a loop
finds its weights in the core's cache, while in a network every unit's weights have been
pushed out by the others' once they no longer fit in it together, and come from the
shared cache or memory. The table models a whole network as

    a * (units' sum) + c * (weights beyond the core's cache, in millions of float32)

``a`` (a few per cent) is the overhead of running units back to back; ``c`` is the time to
fetch a million weights (on a 2-core EPYC with 1 MB of L2 per core, about 0.25 ms: 5-25 %
of a 1-10 ms network). The table's first :data:`CALIBRATION_NETWORKS` predictions also
measure the whole network (three times, on fresh copies of the model, keeping the median);
``a`` is the median ratio of measured to units' sum over those whose weights fit in the
cache (1 when none does); ``c`` is the larger ones' total ``measured - a * units' sum``
over their total weights beyond the cache (0 until that total is at least one cache's
worth). One coefficient at a time, each from its own networks, stays put where a
least-squares fit of both on a few networks swings (sizes and units' sums rise together).

On a GPU a small network's batch-1 pass is launch-bound: its time is the host's cost of
issuing each kernel (or, timed as a CUDA graph, one graph launch) plus kernels of a few
microseconds each, and every timing also pays a fixed cost per call (the launch, the
synchronisation, the clock) however little it runs. A unit timed alone pays that fixed
cost once, and so does the whole network, so the units' plain sum counts it once per
unit: on an H200 one scale factor on that sum put only 47-60 % of candidates within
+-10 %. On a GPU the table therefore measures the fixed cost ``o`` itself (the timing of a
module that does nothing) and models a network of ``n`` units as

    o + a * (units' sum - n * o)

where the units' sum less ``n * o`` is their kernels' own cost (launches and compute);
``a`` is the median of ``(measured - o) / (units' sum - n * o)`` over the calibration
networks. There is no cache model on a GPU (``c = 0``).

The table is a JSON file per device (CPU model and thread count, or GPU name, and the
PyTorch version) under ``$NASBOX_CACHE_DIR`` (default ``~/.cache/nasbox``)``/latency/``.
Several workers may share it: each write merges the file's entries under a lock file.

    >>> table = LatencyTable.open("cpu", threads=1)  # doctest: +SKIP
    >>> table.predict(arch).ms  # doctest: +SKIP
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from nasbox.device import device_file, device_key
from nasbox.files import update_file
from nasbox.measure.latency import measure_latency
from nasbox.model.analysis import Analysis, analyze
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model

__all__ = ["CALIBRATION_NETWORKS", "LatencyTable", "Prediction", "Unit", "network_units"]

#: predictions that also measure the whole network, to learn the weight-fetch time per parameter
CALIBRATION_NETWORKS = 8
_CALIBRATION_REPEATS = 3  # measurements of each calibration network (each on a fresh copy of the model)
_FORMAT = 3  # 3: calibration networks record their unit count and GPU tables the fixed cost per call
_READABLE = (2, 3)
# per-unit timing: a shorter budget than a whole network's (the units' errors average out)
_UNIT_TIMING = {"min_runs": 20, "max_runs": 40, "budget_s": 0.2}

Shape = tuple[int, int, int]


class Unit(NamedTuple):
    """One measured piece of a network: its module path, table key and input shape."""

    name: str  # module path in the built model: "resize", "stage2.block1", "stage2.pool", "head"
    key: str
    in_shape: Shape


class Prediction(NamedTuple):
    """A predicted latency.

    Attributes:
        ms: predicted batch-1 latency (milliseconds).
        units: units the network has.
        new_units: units that were not in the table and were measured now.
        measured_ms: the whole network's measured latency, when this prediction was one
            of the table's calibration networks (``None`` otherwise).
    """

    ms: float
    units: int
    new_units: int
    measured_ms: float | None = None


def _shape_text(shape: Shape) -> str:
    return "x".join(str(s) for s in shape)


def network_units(arch: Architecture, info: Analysis | None = None) -> list[Unit]:
    """The units of ``arch`` in forward order; run one after the other, they are the network.

    Keys name everything that sets a unit's work: the block's genotype (type, widths,
    kernel, stride, activation, SE), its input shape and, for the head, the classes.
    """
    units = []
    for part in (info or analyze(arch)).parts:
        shape = _shape_text(part.in_shape)
        if part.name == "resize":
            what = f"resize {arch.resolution}"
        elif part.name == "head":
            what = f"{arch.head!r} classes={arch.num_classes}"
        else:
            what = repr(part.genotype)
        units.append(Unit(part.name, f"{what} in {shape}", part.in_shape))
    return units


MeasureFn = Callable[[nn.Module, Shape], float]


def _core_cache_bytes(device: torch.device) -> int:
    """The CPU core's own (L2) cache, which a unit's weights fit in when timed alone; 0 on GPUs."""
    if device.type != "cpu":
        return 0
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip().upper()
        return int(text.rstrip("KMB")) * {"K": 1024, "M": 1024**2}.get(text.rstrip("B")[-1], 1)
    except (OSError, ValueError, IndexError):
        return 1024**2  # a common L2 size


class LatencyTable:
    """Per-unit latencies of one device, with the weight-fetch time learnt from whole networks.

    Args:
        path: the JSON file (read if it exists; written after every new measurement), or
            ``None`` for a table in memory only.
        key: the device key (:func:`device_key`); a file written for another key is ignored.
        measure: ``measure(module, input_shape) -> milliseconds``, the device's timing of a
            unit; :meth:`open` makes one from :func:`nasbox.measure.measure_latency`.
        measure_whole: the same for a whole network (for calibration); ``None`` leaves the
            table uncalibrated (the units' sum alone).
        cache_bytes: the cache a unit's weights sit in when it is timed alone (the CPU core's
            L2); weights beyond it are fetched from farther away in a whole network.
    """

    def __init__(self, path: Path | None, key: str, measure: MeasureFn, measure_whole: MeasureFn | None = None,
                 cache_bytes: int = 0, per_call: bool = False) -> None:
        self.path, self.key, self.cache_mparams = path, key, cache_bytes / 4 / 1e6
        self._measure, self._measure_whole = measure, measure_whole
        self.per_call = per_call  # model the fixed cost per timed call (GPUs)
        self.entries: dict[str, float] = {}
        self._overhead: float | None = None
        # (units' sum in ms, parameters in millions, measured whole network in ms, units)
        self.calibration: list[tuple[float, float, float, int]] = []
        self._merge(self._read())

    @classmethod
    def open(cls, device: str | torch.device = "cpu", threads: int = 1, directory: Path | None = None) -> LatencyTable:
        """The table of ``device`` (``threads`` CPU threads) in ``directory`` (default :func:`nasbox.files.cache_dir`)."""
        device = torch.device(device)
        key = device_key(device, threads)
        path = device_file("latency", device, threads, directory)

        warm = {"min_warmup_s": 0.05} if device.type == "cuda" else {}  # the GPU is warm after the first unit

        def unit(module: nn.Module, shape: Shape) -> float:
            return measure_latency(module, shape, device=device, threads=threads, **_UNIT_TIMING, **warm).median_ms

        def whole(model: nn.Module, shape: Shape) -> float:  # the median over fresh copies: one can be 5-15 % off
            return statistics.median(measure_latency(model, shape, device=device, threads=threads).median_ms
                                     for _ in range(_CALIBRATION_REPEATS))

        return cls(path, key, unit, whole, cache_bytes=_core_cache_bytes(device), per_call=device.type == "cuda")

    # ---- file
    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            return self._parse(self.path.read_text())
        except OSError:
            return {}

    def _parse(self, text: str | None) -> dict[str, Any]:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return {}
        ok = isinstance(data, dict) and data.get("format") in _READABLE and data.get("device") == self.key
        return data if ok else {}

    def _merge(self, data: dict[str, Any]) -> None:
        for k, v in (data.get("units") or {}).items():
            if isinstance(v, (int, float)) and v > 0:
                self.entries.setdefault(k, float(v))
        overhead = data.get("overhead_ms")
        if self._overhead is None and isinstance(overhead, (int, float)) and overhead >= 0:
            self._overhead = float(overhead)
        known = set(self.calibration)
        for row in data.get("calibration") or []:
            if isinstance(row, list) and len(row) in (3, 4):  # format 2 did not record the unit count
                entry = (float(row[0]), float(row[1]), float(row[2]), int(row[3]) if len(row) == 4 else 0)
                if entry not in known:
                    self.calibration.append(entry)

    def save(self) -> None:
        """Write the table, merged under its lock with what other workers wrote meanwhile."""
        if self.path is None:
            return

        def merged(text: str | None) -> str:
            self._merge(self._parse(text))
            data = {"format": _FORMAT, "device": self.key, "units": dict(sorted(self.entries.items())),
                    "calibration": [list(p) for p in self.calibration]}
            if self._overhead is not None:
                data["overhead_ms"] = self._overhead
            return json.dumps(data, indent=1) + "\n"

        try:
            update_file(self.path, merged)
        except OSError:
            pass  # a read-only cache (or a lock held too long) only costs re-measuring

    # ---- prediction
    def _beyond_cache(self, params: float) -> float:
        return max(0.0, params - self.cache_mparams)

    @property
    def overhead_ms(self) -> float:
        """``o``, the fixed cost of one timed call (measured once, on a GPU table); 0 on a CPU's."""
        if not self.per_call:
            return 0.0
        if self._overhead is None:
            self._overhead = self._measure(nn.Identity(), (1, 1, 1))
        return self._overhead

    def _work(self, total: float, units: int) -> float:
        """The units' own cost: their sum less the fixed cost each one's timing paid."""
        return total - units * self.overhead_ms

    @property
    def coefficients(self) -> tuple[float, float]:
        """``(a, c)``: ``latency = o + a * (units' sum - n * o) + c * weights beyond the cache
        (millions)``, ``o = 0`` on a CPU; ``(1, 0)`` before calibration."""
        if self.per_call:  # no cache model (GPUs): one scale factor on the units' own cost
            o = self.overhead_ms
            known = [row for row in self.calibration if row[3] or not o]  # format 2 rows lack the unit count
            ratios = [(whole - o) / self._work(total, n) for total, _, whole, n in known if self._work(total, n) > 0]
            return (statistics.median(ratios) if ratios else 1.0), 0.0
        pairs = [(total, self._beyond_cache(params), whole) for total, params, whole, _ in self.calibration
                 if total > 0]
        if not pairs:
            return 1.0, 0.0
        if self.cache_mparams <= 0:  # no cache model: one scale factor
            return statistics.median(whole / total for total, _, whole in pairs), 0.0
        fitting = [whole / total for total, beyond, whole in pairs if beyond == 0]
        a = statistics.median(fitting) if fitting else 1.0
        spilling = [(whole - a * total, beyond) for total, beyond, whole in pairs if beyond > 0]
        beyond = sum(b for _, b in spilling)
        if beyond < self.cache_mparams:  # too little beyond the cache to tell the fetch time from noise
            return a, 0.0
        # total extra time over total weights beyond the cache, so that a network just past
        # the cache (a tiny denominator) cannot swing it; a fetch takes time (c >= 0)
        return a, max(0.0, sum(extra for extra, _ in spilling) / beyond)

    def calibrated(self) -> bool:
        return len(self.calibration) >= CALIBRATION_NETWORKS

    def predict(self, arch: Architecture, model: nn.Module | None = None) -> Prediction:
        """Predicted batch-1 latency of ``arch`` (its model, when given, saves a build).

        Units missing from the table are measured now and stored; until the table is
        calibrated the whole network is measured too (:data:`CALIBRATION_NETWORKS`).
        """
        info = analyze(arch)
        units, params = network_units(arch, info), info.params / 1e6
        missing = [u for u in units if u.key not in self.entries]
        calibrate = not self.calibrated() and self._measure_whole is not None
        measured = None
        if missing or calibrate:
            if model is None:

                model = build_model(arch, seed=0)
            model = model.eval()
            for u in missing:
                if u.key not in self.entries:  # a unit may repeat within one network
                    self.entries[u.key] = self._measure(model.get_submodule(u.name), u.in_shape)
        total = sum(self.entries[u.key] for u in units)
        if calibrate:
            measured = self._measure_whole(model, arch.input_shape)
            self.calibration.append((total, params, measured, len(units)))
        new_overhead = self.per_call and self._overhead is None
        o = self.overhead_ms  # on a GPU: measured once, stored with the table
        if missing or calibrate or new_overhead:
            self.save()
        a, c = self.coefficients
        ms = o + a * self._work(total, len(units)) + c * self._beyond_cache(params)
        return Prediction(ms, len(units), len({u.key for u in missing}), measured)
