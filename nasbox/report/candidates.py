"""The table of Pareto-optimal candidates and the comparison with the zoo, as plain data."""

from __future__ import annotations

from typing import NamedTuple

from nasbox.report.collect import ReportData, TrialRow
from nasbox.report.fronts import FrontInfo, trained_points, zoo_metric
from nasbox.study.pareto import dominates
from nasbox.study.schema import TrialStatus
from nasbox.zoo.scores import UNSCORED, ZooScore

__all__ = ["Candidate", "ZooComparison", "candidates", "zoo_comparisons"]

_AXES = ("macs", "params", "latency")


class Candidate(NamedTuple):
    """One row of the Pareto table.

    Attributes:
        rank: 1 for the most accurate Pareto-optimal candidate, 2 for the next, ...
        trial: the trial (its metrics, encoding and arch_id).
        fronts: the 2-D views it is on (``macs``, ``params``, ``latency``).
        beats: zoo networks it dominates in accuracy, MACs, params and latency.
    """

    rank: int
    trial: TrialRow
    fronts: tuple[str, ...]
    beats: tuple[str, ...]


class ZooComparison(NamedTuple):
    """How the candidates compare with one zoo network.

    Attributes:
        zoo: the zoo network's score.
        cheapest: the candidate with the fewest MACs among those at least as accurate
            (``None`` when no candidate reaches its accuracy).
        closest: the most accurate candidate (when none reaches it).
        ratios: ``cost -> candidate / zoo`` for ``cheapest`` (or ``closest``).
        dominating: the trials that dominate it in accuracy, MACs, params and latency.
    """

    zoo: ZooScore
    cheapest: TrialRow | None
    closest: TrialRow | None
    ratios: dict[str, float]
    dominating: tuple[int, ...]


def _vector(accuracy: float | None, costs: list[float | None]) -> list[float] | None:
    if accuracy is None or any(c is None for c in costs):
        return None
    return [accuracy, *costs]  # type: ignore[list-item]


def _beats(t: TrialRow, z: ZooScore) -> bool:
    a = _vector(t.accuracy, [t.metric(c) for c in _AXES])
    b = _vector(z.accuracy, [zoo_metric(z, c) for c in _AXES])
    return a is not None and b is not None and dominates(a, b, ["maximize", "minimize", "minimize", "minimize"])


def candidates(data: ReportData, fronts: list[FrontInfo], zoo: list[ZooScore] | None = None) -> list[Candidate]:
    """The Pareto-optimal candidates (all objectives), most accurate first."""
    on = {f.cost: {t.number for t in f.front} for f in fronts}
    scored = [z for z in (zoo or []) if z.status == TrialStatus.COMPLETE]
    rows = []
    for rank, number in enumerate(data.pareto_numbers, start=1):
        t = data.trial(number)
        rows.append(Candidate(rank, t, tuple(c for c in on if number in on[c]),
                              tuple(z.name for z in scored if _beats(t, z))))
    return rows


def zoo_comparisons(data: ReportData, zoo: list[ZooScore] | None) -> list[ZooComparison]:
    """For each scored zoo network: the cheapest candidate that is at least as accurate; a network
    with costs only (``unscored``) is listed with no verdict."""
    points = trained_points(data)
    out = []
    for z in zoo or []:
        if z.status == UNSCORED:
            out.append(ZooComparison(z, None, None, {}, ()))
            continue
        if z.status != TrialStatus.COMPLETE or z.accuracy is None:
            continue
        reach = [t for t in points if t.accuracy is not None and t.accuracy >= z.accuracy and t.macs is not None]
        cheapest = min(reach, key=lambda t: (t.macs, -(t.accuracy or 0.0), t.number), default=None)
        closest = None
        if cheapest is None:
            closest = max(points, key=lambda t: (t.accuracy or 0.0, -(t.macs or 0), -t.number), default=None)
        ref = cheapest or closest
        ratios = {}
        if ref is not None:
            for cost in _AXES:
                mine, theirs = ref.metric(cost), zoo_metric(z, cost)
                if mine is not None and theirs:
                    ratios[cost] = mine / theirs
        dominating = tuple(t.number for t in points if _beats(t, z))
        out.append(ZooComparison(z, cheapest, closest, ratios, dominating))
    return out
