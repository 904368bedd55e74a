"""Multi-objective early stopping: asynchronous successive halving on Pareto rank.

Optuna's pruners refuse studies with several objectives, so nasbox stops weak candidates
itself, in the spirit of MO-ASHA (Schmucker et al., 2021, "Multi-objective Asynchronous
Successive Halving"). A candidate's training budget has *rungs* (by default after 1/4 and
1/2 of its iterations, see :func:`rung_iterations`). At each rung the candidate's
validation accuracy is recorded on its trial (:func:`record_rung`), and the candidate is
ranked together with every other trial of the study that reached the same rung
(:func:`peers_at`; running ones too, so workers sharing a study see each other) on
*(accuracy at the rung, maximised; each cost, minimised)*. As in asynchronous successive
halving, only the best ``1 / reduction_factor`` of that population is promoted (trains on);
the rest stop (:class:`ParetoEarlyStopper`).

Ranking is NSGA-II's: non-dominated sorting first; within the front that straddles the
cut-off, larger crowding distance first (boundary points of a front count as infinitely
far apart). MO-ASHA proposes an epsilon-net as the tie-breaker; crowding distance is the
simpler of its two documented choices. A non-dominated candidate (front 0) is always
promoted, even when front 0 alone is larger than the promoted share; ties favour the
candidate (it stops only when ``ceil(n / reduction_factor)`` others rank strictly ahead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from nasbox.errors import ConfigError
from nasbox.study.pareto import non_domination_rank, to_loss

__all__ = [
    "COST_ATTRS",
    "STOP_ATTR",
    "ParetoEarlyStopper",
    "RungJudge",
    "peers_at",
    "record_rung",
    "rung_iterations",
    "rung_key",
    "rung_results",
]

COST_ATTRS: tuple[str, ...] = ("macs", "params", "latency_ms")  # the user attributes holding the costs
STOP_ATTR = "early_stop"  # user attribute set on a trial that stopped at a rung
_PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)

Peer = tuple[float, dict[str, float]]


def rung_iterations(total_iterations: int, fractions: Sequence[float] = (0.25, 0.5)) -> list[int]:
    """The iterations at which a training run of ``total_iterations`` reaches its rungs.

    Each rung is ``floor(fraction * total_iterations)``, at least 1; rungs that coincide or
    that would fall on the last iteration (or beyond) are dropped. Sorted ascending.

    Args:
        total_iterations: the full training budget in iterations (>= 1).
        fractions: the rungs as fractions of the budget, each in (0, 1).

    Returns:
        Distinct iterations ``1 <= i < total_iterations`` (empty for a budget of 1).

    Raises:
        ConfigError: the budget is not a positive integer, or a fraction is outside (0, 1).
    """
    if isinstance(total_iterations, bool) or not isinstance(total_iterations, int) or total_iterations < 1:
        raise ConfigError(f"the training budget must be a positive number of iterations, got {total_iterations}")
    for f in fractions:
        if not (isinstance(f, (int, float)) and 0.0 < f < 1.0):
            raise ConfigError(f"rung fractions must lie in (0, 1), got {f}")
    found = {max(1, math.floor(f * total_iterations + 1e-9)) for f in fractions}
    return sorted(i for i in found if i < total_iterations)


def _crowding_distance(loss: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of the points of one front (boundary points: infinite)."""
    n, m = loss.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(loss[:, j], kind="stable")
        col = loss[order, j]
        distance[order[0]] = distance[order[-1]] = np.inf
        span = col[-1] - col[0]
        if not np.isfinite(span) or span <= 0:
            continue
        with np.errstate(invalid="ignore"):
            gaps = (col[2:] - col[:-2]) / span
        distance[order[1:-1]] += np.where(np.isfinite(gaps), gaps, 0.0)
    return distance


class ParetoEarlyStopper:
    """Decides at a rung whether a candidate stops (MO-ASHA's promotion rule).

    Args:
        reduction_factor: ``eta``; the best ``ceil(n / eta)`` of the ``n`` candidates at a
            rung (the peers and this one) are promoted. Must be > 1.
        min_peers: with fewer peers than this at a rung, nobody is stopped (too few to rank).
        cost_names: the minimised costs, keys of the ``costs`` dicts (e.g. ``"macs"``).

    Example::

        >>> s = ParetoEarlyStopper(reduction_factor=2, min_peers=2, cost_names=("macs",))
        >>> peers = [(0.9, {"macs": 1.0}), (0.8, {"macs": 2.0})]
        >>> s.should_stop(0, 0.5, {"macs": 3.0}, peers)  # dominated by both
        True
        >>> s.should_stop(0, 0.5, {"macs": 0.5}, peers)  # cheapest: non-dominated
        False
    """

    def __init__(self, reduction_factor: float = 3, min_peers: int = 4, cost_names: Sequence[str] = COST_ATTRS) -> None:
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, (int, float)) or not reduction_factor > 1:
            raise ConfigError(f"the reduction factor must be a number > 1, got {reduction_factor}")
        if isinstance(min_peers, bool) or not isinstance(min_peers, int) or min_peers < 0:
            raise ConfigError(f"min_peers must be an integer >= 0, got {min_peers}")
        self.reduction_factor = reduction_factor
        self.min_peers = min_peers
        self.cost_names = tuple(cost_names)
        self.directions = ["maximize", *["minimize"] * len(self.cost_names)]

    def _point(self, accuracy: float | None, costs: Mapping[str, float]) -> list[float]:
        acc = -math.inf if accuracy is None or math.isnan(accuracy) else float(accuracy)
        out = [acc]
        for name in self.cost_names:
            v = costs.get(name)
            out.append(math.inf if v is None or math.isnan(float(v)) else float(v))
        return out

    def should_stop(self, rung: int, accuracy: float, costs: Mapping[str, float], peers: Sequence[Peer]) -> bool:
        """Whether the candidate stops at ``rung`` (True) or trains on (False).

        Args:
            rung: the rung's index (informational: the peers are already those of this rung).
            accuracy: the candidate's validation accuracy at the rung.
            costs: the candidate's costs by name; a missing or NaN cost counts as infinite,
                a NaN accuracy as minus infinity.
            peers: ``(accuracy at this rung, costs)`` of the other candidates that reached the
                rung, including those that stopped there.

        Returns:
            False with fewer than ``min_peers`` peers or when the candidate is non-dominated;
            otherwise True unless it ranks among the best ``ceil(n / reduction_factor)``.
        """
        if len(peers) < self.min_peers:
            return False
        points = [self._point(a, c) for a, c in peers] + [self._point(accuracy, costs)]
        ranks = non_domination_rank(points, self.directions)
        mine = ranks[-1]
        if mine == 0:
            return False
        keep = math.ceil(len(points) / self.reduction_factor)
        ahead = int(np.sum(ranks < mine))
        same = np.flatnonzero(ranks == mine)
        if ahead >= keep:
            return True
        if ahead + len(same) <= keep:
            return False
        distance = _crowding_distance(to_loss(np.asarray(points)[same], self.directions))
        own = distance[-1]  # the candidate is the last point, hence the last of its front
        return ahead + int(np.sum(distance > own)) >= keep


# --------------------------------------------------------------------------- rungs on trials


def rung_key(rung: int) -> str:
    """The user attribute holding a trial's result at ``rung``: ``rung0``, ``rung1``, ..."""
    return f"rung{rung}"


def record_rung(trial: optuna.Trial, rung: int, iteration: int, accuracy: float) -> None:
    """Store ``{"iteration": ..., "accuracy": ...}`` as the trial's user attribute ``rung{k}``."""
    trial.set_user_attr(rung_key(rung), {"iteration": int(iteration), "accuracy": float(accuracy)})


def rung_results(user_attrs: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Every rung a trial recorded, ``{rung: {"iteration", "accuracy"}}``, from its user attributes."""
    out = {}
    for key, value in user_attrs.items():
        if key.startswith("rung") and key[4:].isdigit() and isinstance(value, dict):
            out[int(key[4:])] = value
    return dict(sorted(out.items()))


def peers_at(study: optuna.Study, rung: int, exclude_number: int | None = None, *,
             cost_names: Sequence[str] = COST_ATTRS, iteration: int | None = None) -> list[Peer]:
    """``(accuracy, costs)`` of the study's trials that recorded ``rung``.

    Complete, stopped (PRUNED) and running trials count, so that workers sharing a study
    see each other's rungs; failed ones do not. A trial whose costs (user attributes
    ``cost_names``) are not all recorded yet is left out.

    Args:
        study: the study (any storage).
        rung: the rung's index.
        exclude_number: the asking trial's number, left out.
        cost_names: the user attributes to read as costs.
        iteration: when given, only rung results recorded at this iteration (a study resumed
            with another training budget has rungs at other iterations).

    Returns:
        One ``(accuracy, {cost: value})`` per peer, in trial order.
    """
    peers: list[Peer] = []
    for t in study.get_trials(deepcopy=False, states=_PEER_STATES):
        if t.number == exclude_number:
            continue
        a = t.user_attrs
        result = a.get(rung_key(rung))
        if not isinstance(result, dict) or "accuracy" not in result:
            continue
        if iteration is not None and result.get("iteration") != iteration:
            continue
        if any(a.get(name) is None for name in cost_names):
            continue
        peers.append((float(result["accuracy"]), {name: float(a[name]) for name in cost_names}))
    return peers


class RungJudge:
    """The study's side of early stopping for one trial: at each rung, record the accuracy
    the evaluator found there, rank it against :func:`peers_at` and say whether to stop.

    The candidate's costs are stored on the trial at once (user attributes named by
    ``stopper.cost_names``), so that other workers can rank it at a rung before it ends.
    A stopping trial also gets ``early_stop = {"rung", "iteration", "accuracy", "peers"}``.
    The evaluator scores the candidate at :attr:`iterations` (it knows its recipe) and
    calls :meth:`decide` (the :class:`~nasbox.evaluate.base.Rungs` protocol).

    Args:
        trial: the running trial (its ``study`` is where the peers are read).
        stopper: the promotion rule.
        iterations: the rung iterations, e.g. :func:`rung_iterations` of the budget.
        costs: the candidate's costs by name (all of ``stopper.cost_names``).

    Raises:
        ConfigError: a cost named by the stopper is missing from ``costs``.
    """

    def __init__(self, trial: optuna.Trial, stopper: ParetoEarlyStopper, iterations: Sequence[int],
                 costs: Mapping[str, float]) -> None:
        missing = [name for name in stopper.cost_names if name not in costs]
        if missing:
            raise ConfigError(f"early stopping ranks on {', '.join(missing)}, which the candidate lacks")
        self.trial, self.stopper, self.iterations = trial, stopper, list(iterations)
        self.costs = {name: float(costs[name]) for name in stopper.cost_names}
        for name in stopper.cost_names:
            trial.set_user_attr(name, costs[name])

    def decide(self, rung: int, iteration: int, accuracy: float) -> bool:
        """Record the trial's ``accuracy`` at ``rung`` (iteration ``iteration``); True: stop it."""
        record_rung(self.trial, rung, iteration, accuracy)
        peers = peers_at(self.trial.study, rung, self.trial.number, cost_names=self.stopper.cost_names,
                         iteration=iteration)
        stop = self.stopper.should_stop(rung, accuracy, self.costs, peers)
        if stop:
            self.trial.set_user_attr(STOP_ATTR, {"rung": rung, "iteration": int(iteration), "accuracy": accuracy,
                                                 "peers": len(peers)})
        return stop
