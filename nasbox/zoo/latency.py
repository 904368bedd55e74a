"""The classic networks' batch-1 latency on a device, measured once per machine and input and cached.

The search measures them on its own device before its first trial (:class:`~nasbox.search.hooks.ClassicsLatency`)
and records them in its study; the cache beside the latency lookup tables (``~/.cache/nasbox/zoo-latency/``) lets
later studies on the same machine reuse them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasbox.device import device_file, device_key
from nasbox.files import update_file
from nasbox.measure.latency import measure_latency
from nasbox.model.build import build_model
from nasbox.zoo.costs import Shape
from nasbox.zoo.genotypes import ZOO_NAMES, get_zoo

__all__ = ["TIMING", "latency_cache_path", "measure_classics"]

_FORMAT = 1
_LOCK_WAIT_S = 900.0  # another worker may be measuring them (large inputs on a CPU: a minute or more)
# a shorter timing than a candidate's (20-60 runs, 1 s): the median of 10-30 runs is steady enough for a
# reference mark, and nine networks then cost seconds, not a minute, before the first trial
TIMING = {"min_runs": 10, "max_runs": 30, "budget_s": 0.3, "max_warmup_s": 2.0}


def latency_cache_path(device: Any, threads: int = 1) -> Path:
    """``<cache>/zoo-latency/<device key>.json`` (the device model, CPU threads, PyTorch version), named
    as the device's latency table is."""
    return device_file("zoo-latency", device, threads)


def measure_classics(input_shape: Shape, num_classes: int, device: Any, *, threads: int = 1,
                     models: Sequence[str] = ZOO_NAMES,
                     measure: Callable[[Any, Shape], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Batch-1 latency of each classic network at this input on ``device``, from the cache or measured
    now (under the cache's lock: workers that start together measure each network once).

    Args:
        input_shape, num_classes: the study's input and classes.
        device: where to measure (the search's device).
        threads: CPU intra-op threads, as for the candidates.
        models: zoo names.
        measure: ``measure(model, input_shape) -> Latency`` (default: :func:`measure_latency` on ``device``,
            with :data:`TIMING`).

    Returns:
        ``name -> {"arch_id", "latency_ms", "latency_iqr_ms"}``; a network that cannot run on the
        device (out of memory) is left out.
    """
    timer = measure or (lambda model, shape: measure_latency(model, shape, device=device, threads=threads, **TIMING))
    archs = {name: get_zoo(name, tuple(input_shape), num_classes) for name in models}
    path = latency_cache_path(device, threads)
    found: dict[str, dict[str, Any]] = {}

    def update(text: str | None) -> str:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}  # a corrupt cache is measured again
        entries = data.get("models") if isinstance(data, dict) and data.get("format") == _FORMAT else None
        entries = dict(entries or {})
        for name, arch in archs.items():
            if arch.arch_id not in entries:
                try:
                    latency = timer(build_model(arch, seed=0), arch.input_shape)
                except (RuntimeError, MemoryError):
                    continue
                entries[arch.arch_id] = {"name": name, "latency_ms": latency.median_ms,
                                         "latency_iqr_ms": latency.iqr_ms}
            found[name] = {"arch_id": arch.arch_id, "latency_ms": entries[arch.arch_id]["latency_ms"],
                           "latency_iqr_ms": entries[arch.arch_id]["latency_iqr_ms"]}
        payload = {"format": _FORMAT, "device": device_key(device, threads), "models": entries}
        return json.dumps(payload, indent=2, sort_keys=True) + "\n"

    update_file(path, update, timeout=_LOCK_WAIT_S)
    return found
