"""The 2-D Pareto fronts, accuracy against each cost, as plain data.

The classic networks sit on every view: as points where the study's fidelity scored them
(``nasbox zoo``), and otherwise as marks at their cost (analytic MACs and parameters, the
latency the search measured on its device).

With four objectives a large share of the trials is non-dominated, so the report leads
with three 2-D views: accuracy (maximised) against MACs, parameters and latency
(minimised). Every trial belongs to exactly one group of each view:

* ``front``: trained, feasible, non-dominated in (accuracy, cost);
* ``dominated``: trained and feasible, but dominated in this view;
* ``repeat``: a genotype scored before (drawn on top of its first trial);
* ``stopped``: stopped early at a rung (``--early-stop``); drawn at its accuracy at that
  rung, never on the front nor in the hypervolume;
* ``infeasible``, ``screened``, ``failed``, ``lost``, ``running``: no accuracy (a stopped
  trial without a recorded accuracy joins ``failed``); drawn in a strip under the plot at
  their cost, when the cost is known;
* ``missing``: no value on this axis at all (e.g. the latency of a candidate that was
  never measured); the view lists them by number.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nasbox.report.collect import NOT_TRAINED, ReportData, TrialRow
from nasbox.study.pareto import hypervolume, non_dominated_mask
from nasbox.study.schema import TrialStatus
from nasbox.zoo.scores import ZooScore

__all__ = ["COSTS", "FrontInfo", "front_info", "front_infos", "trained_points", "zoo_metric"]

#: cost -> (axis title, short name, unit)
COSTS: dict[str, tuple[str, str, str]] = {
    "macs": ("MACs (batch 1)", "MACs", ""),
    "params": ("parameters", "params", ""),
    "latency": ("latency, median batch-1 ms", "latency", "ms"),
}
REFERENCE_FACTOR = 1.1  # reference point of a cost: 1.1 x the largest value among the points


class FrontInfo(NamedTuple):
    """One 2-D view: its groups of trials, the zoo networks and the view's hypervolume."""

    cost: str
    title: str
    front: list[TrialRow]  # sorted by cost
    dominated: list[TrialRow]
    repeat: list[TrialRow]
    stopped: list[TrialRow]  # stopped early, with their accuracy at the rung where they stopped
    strip: dict[str, list[TrialRow]]  # status -> trials without accuracy but with this cost
    missing: list[TrialRow]
    zoo: list[ZooScore]  # classic networks scored at this study's fidelity: points
    classics: list[ZooScore]  # classic networks with this cost but no accuracy here: marks on the cost axis
    hypervolume: float  # normalised: accuracy in [0, 1] x cost / reference in [0, 1]
    reference: float  # the cost of the reference point (its accuracy is 0)

    def numbers(self) -> set[int]:
        """Every trial number of the view (all of the study's trials)."""
        groups = [self.front, self.dominated, self.repeat, self.stopped, self.missing, *self.strip.values()]
        return {t.number for group in groups for t in group}


def trained_points(data: ReportData) -> list[TrialRow]:
    """Trained, feasible trials that are not repeats: the points fronts are computed on."""
    return [t for t in data.trials if t.status == TrialStatus.COMPLETE and t.accuracy is not None]


def front_info(data: ReportData, cost: str, zoo: list[ZooScore] | None = None) -> FrontInfo:
    """The view of accuracy against ``cost`` (``macs``, ``params`` or ``latency``)."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost=}")
    front, dominated, repeat, stopped, missing = [], [], [], [], []
    strip: dict[str, list[TrialRow]] = {s: [] for s in NOT_TRAINED}
    points = [t for t in trained_points(data) if t.metric(cost) is not None]
    mask = (non_dominated_mask([[t.accuracy, t.metric(cost)] for t in points], ["maximize", "minimize"])
            if points else np.zeros(0, dtype=bool))
    on_front = {t.number for t, m in zip(points, mask, strict=True) if m}
    for t in data.trials:
        x = t.metric(cost)
        if x is None:
            missing.append(t)
        elif t.status == TrialStatus.REPEAT and t.accuracy is not None:
            repeat.append(t)
        elif t.number in on_front:
            front.append(t)
        elif t.status == TrialStatus.COMPLETE and t.accuracy is not None:
            dominated.append(t)
        elif t.status == TrialStatus.STOPPED and t.accuracy is not None:
            stopped.append(t)
        else:
            strip[t.status if t.status in strip else TrialStatus.FAILED].append(t)
    front.sort(key=lambda t: (t.metric(cost), -(t.accuracy or 0.0), t.number))
    reference = REFERENCE_FACTOR * max((t.metric(cost) for t in points), default=0.0)
    hv = 0.0
    if points and reference > 0:
        hv = hypervolume([[t.accuracy, t.metric(cost) / reference] for t in front], ["maximize", "minimize"],
                         [0.0, 1.0])
    scored = [z for z in (zoo or []) if z.status == TrialStatus.COMPLETE and zoo_metric(z, cost) is not None]
    marks = [z for z in (zoo or []) if z.status != TrialStatus.COMPLETE and zoo_metric(z, cost) is not None]
    title = COSTS[cost][0]
    if cost == "latency" and data.config.get("latency") == "predict":
        title = "latency, predicted batch-1 ms (lookup table)"
    return FrontInfo(cost, title, front, dominated, repeat, stopped, strip, missing, scored, marks, hv, reference)


def zoo_metric(z: ZooScore, cost: str) -> float | None:
    """A zoo network's value on a cost axis (``None`` when not measured)."""
    value = z.latency_ms if cost == "latency" else getattr(z, cost)
    return None if value is None else float(value)


def front_infos(data: ReportData, zoo: list[ZooScore] | None = None) -> list[FrontInfo]:
    """The three views, MACs, parameters and latency."""
    return [front_info(data, cost, zoo) for cost in COSTS]
