"""The classic networks' costs at a study's input, for every report's cost axes (no torch: the report reads it).

MACs and parameters come from the genotype's analysis (no torch, milliseconds); batch-1
latency is measured once per device and input -- by the search, on its own device, before
its first trial -- and kept in a cache beside the latency lookup tables
(``~/.cache/nasbox/zoo-latency/``), so that later studies on the same machine reuse it. The
search records the values in its study (:data:`~nasbox.study.schema.StudyAttr.CLASSICS`),
so a report rebuilt anywhere from the storage shows them (the measuring: :mod:`nasbox.zoo.latency`). Accuracy
needs training: that is ``nasbox zoo`` (:mod:`nasbox.zoo.score`) and the final rung.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nasbox.model.analysis import analyze
from nasbox.zoo.genotypes import ZOO_NAMES, get_zoo, list_zoo
from nasbox.zoo.scores import UNSCORED, ZooScore

__all__ = ["Shape", "classic_costs"]

Shape = tuple[int, int, int]


def classic_costs(input_shape: Shape, num_classes: int, latencies: dict[str, Any] | None = None,
                  models: Sequence[str] = ZOO_NAMES) -> list[ZooScore]:
    """Each classic network at ``input_shape`` with ``num_classes`` outputs: its analytic MACs,
    FLOPs and parameters, and its latency where ``latencies`` (as :func:`nasbox.zoo.latency.measure_classics`
    returns, or a study recorded) holds one for the same genotype; no accuracy (``unscored``)."""
    latencies = latencies or {}
    descriptions = dict(list_zoo())
    out = []
    for name in models:
        arch = get_zoo(name, tuple(input_shape), num_classes)
        info = analyze(arch)
        measured = latencies.get(name) if isinstance(latencies.get(name), dict) else {}
        same = measured.get("arch_id") == arch.arch_id
        out.append(ZooScore(name=name, description=descriptions.get(name, ""), status=UNSCORED, accuracy=None,
                            macs=info.macs, flops=info.flops, params=info.params,
                            latency_ms=measured.get("latency_ms") if same else None,
                            latency_iqr_ms=measured.get("latency_iqr_ms") if same else None,
                            encoding=arch.encode(), arch_id=arch.arch_id))
    return out
