"""The hypervolume of the study's objectives and its history over the trials, as plain data.

The hypervolume is the share of objective space that the Pareto-optimal candidates
dominate, inside the box spanned by a *reference point*. nasbox normalises every
objective so that the box is the unit cube and the number reads as a fraction:

* accuracy (maximised) is used as it is, with reference 0 (the box spans 0 to 1);
* each cost (minimised) is divided by its reference, ``1.1 x`` the largest value among
  the trained, feasible trials (the box spans 0 to 1 on that axis too).

The reference point is fixed by all trials in the storage, so the history (the
hypervolume after each trial) never decreases and two reports of the same storage agree;
a report written after more trials may choose a larger reference.
"""

from __future__ import annotations

from typing import NamedTuple

from nasbox.report.collect import ReportData
from nasbox.report.fronts import REFERENCE_FACTOR, trained_points
from nasbox.study.pareto import hypervolume_history

__all__ = ["HypervolumeInfo", "hypervolume_info"]


class HypervolumeInfo(NamedTuple):
    """The study's hypervolume, its reference point and its history.

    Attributes:
        objectives: the study's objectives, e.g. ``("accuracy", "macs", "params", "latency")``.
        directions: ``"maximize"`` or ``"minimize"`` per objective.
        reference: the reference point in the objectives' own units.
        value: the final hypervolume (normalised, in [0, 1]).
        history: ``(trial number, hypervolume after that trial)`` for every trial.
        n_points: trained, feasible trials it is computed on.
    """

    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    reference: tuple[float, ...]
    value: float
    history: list[tuple[int, float]]
    n_points: int


def hypervolume_info(data: ReportData) -> HypervolumeInfo:
    """Hypervolume of the trained, feasible trials in all of the study's objectives."""
    points = trained_points(data)
    objectives, directions = data.objectives, data.directions
    reference, scale = [], []
    for name, direction in zip(objectives, directions, strict=True):
        values = [t.metric(name) for t in points if t.metric(name) is not None]
        if direction == "maximize":
            top = max(values, default=1.0)
            reference.append(0.0)
            scale.append(1.0 if name == "accuracy" or top <= 0 else REFERENCE_FACTOR * top)
        else:
            ref = REFERENCE_FACTOR * max(values, default=0.0)
            reference.append(ref)
            scale.append(ref if ref > 0 else 1.0)
    usable = [t for t in points if all(t.metric(n) is not None for n in objectives)]
    norm = [[t.metric(n) / s for n, s in zip(objectives, scale, strict=True)] for t in usable]
    norm_ref = [r / s for r, s in zip(reference, scale, strict=True)]
    values = hypervolume_history(norm, directions, norm_ref) if usable and objectives else []
    after = dict(zip((t.number for t in usable), values, strict=True))
    history, current = [], 0.0
    for t in data.trials:
        current = after.get(t.number, current)
        history.append((t.number, current))
    return HypervolumeInfo(tuple(objectives), tuple(directions), tuple(reference), current, history, len(usable))
