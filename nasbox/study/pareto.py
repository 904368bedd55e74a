"""Non-dominated sorting and hypervolume, for any mix of maximised and minimised objectives.

Optuna's public API gives the Pareto-optimal trials of a study (``Study.best_trials``), but
not the sorting or the hypervolume of arbitrary points (the report needs both for its 2-D
fronts and for the hypervolume history). Optuna has them as private functions; this is the
one module of nasbox that imports anything private of Optuna's, so that a change there
breaks one place. Each private function has a plain numpy twin here that is used when the
import fails, and the tests hold both to the same closed-form answers.

Conventions: ``values`` is an ``(n_points, n_objectives)`` array; ``directions`` names each
objective ``"maximize"`` or ``"minimize"`` (Optuna's ``StudyDirection`` works too). A point
*dominates* another when it is no worse in every objective and better in at least one.
Identical points do not dominate each other, so duplicates are all non-dominated.

Example::

    >>> import numpy as np
    >>> pts = np.array([[0.9, 3.0], [0.8, 1.0], [0.7, 2.0]])  # (accuracy, MACs)
    >>> non_dominated_mask(pts, ["maximize", "minimize"]).tolist()
    [True, True, False]
    >>> round(hypervolume(pts, ["maximize", "minimize"], [0.0, 4.0]), 6)
    2.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "dominates",
    "hypervolume",
    "hypervolume_history",
    "non_dominated_mask",
    "non_domination_rank",
    "to_loss",
]

try:  # Optuna's private implementations (fast, exact); plain numpy below if they move.
    from optuna._hypervolume import compute_hypervolume as _optuna_hypervolume
    from optuna.study._multi_objective import _fast_non_domination_rank as _optuna_rank
    from optuna.study._multi_objective import _is_pareto_front as _optuna_is_pareto_front
except ImportError:  # pragma: no cover - depends on the installed Optuna
    _optuna_hypervolume = _optuna_rank = _optuna_is_pareto_front = None


def _direction_sign(direction: Any) -> float:
    name = getattr(direction, "name", direction)
    name = str(name).lower()
    if name == "maximize":
        return -1.0
    if name == "minimize":
        return 1.0
    raise ValueError(f"a direction is 'maximize' or 'minimize', got {direction=}")


def to_loss(values: Any, directions: Sequence[Any]) -> np.ndarray:
    """Values as losses (smaller is better): maximised objectives are negated.

    Args:
        values: ``(n_points, n_objectives)`` array-like of finite or infinite floats.
        directions: one ``"maximize"``/``"minimize"`` (or ``StudyDirection``) per objective.

    Returns:
        A new float array of the same shape.

    Raises:
        ValueError: the shape and the directions disagree, or a value is NaN.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, len(directions))
    if arr.ndim != 2 or arr.shape[1] != len(directions):
        raise ValueError(f"values must be (n_points, {len(directions)}), got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError("values must not be NaN")
    signs = np.array([_direction_sign(d) for d in directions])
    return arr * signs


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Any]) -> bool:
    """Whether point ``a`` dominates point ``b``."""
    la, lb = to_loss([a, b], directions)
    return bool(np.all(la <= lb) and np.any(la < lb))


def _mask_numpy(loss: np.ndarray) -> np.ndarray:
    n = len(loss)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = np.all(loss <= loss[i], axis=1)
        better = np.any(loss < loss[i], axis=1)
        mask[i] = not np.any(no_worse & better)
    return mask


def non_dominated_mask(values: Any, directions: Sequence[Any]) -> np.ndarray:
    """Boolean mask of the points no other point dominates (the Pareto front).

    Duplicated non-dominated points are all marked.
    """
    loss = to_loss(values, directions)
    if len(loss) == 0:
        return np.zeros(0, dtype=bool)
    if _optuna_is_pareto_front is not None and np.isfinite(loss).all():
        return np.asarray(_optuna_is_pareto_front(loss, assume_unique_lexsorted=False), dtype=bool)
    return _mask_numpy(loss)


def non_domination_rank(values: Any, directions: Sequence[Any]) -> np.ndarray:
    """Rank of each point in non-dominated sorting: 0 for the front, 1 for the front of the
    rest, and so on (NSGA-II's fast non-dominated sort; Deb et al., 2002)."""
    loss = to_loss(values, directions)
    if len(loss) == 0:
        return np.zeros(0, dtype=int)
    if _optuna_rank is not None and np.isfinite(loss).all():
        return np.asarray(_optuna_rank(loss), dtype=int)
    ranks = np.full(len(loss), -1, dtype=int)
    rank = 0
    while (ranks < 0).any():
        left = np.flatnonzero(ranks < 0)
        ranks[left[_mask_numpy(loss[left])]] = rank
        rank += 1
    return ranks


def _hv_numpy(loss: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by slicing along the last objective (fine for tens of points)."""
    if len(loss) == 0:
        return 0.0
    if loss.shape[1] == 1:
        return float(ref[0] - loss[:, 0].min())
    order = np.argsort(loss[:, -1], kind="stable")
    loss = loss[order]
    total = 0.0
    for i in range(len(loss)):
        upper = loss[i + 1, -1] if i + 1 < len(loss) else ref[-1]
        depth = upper - loss[i, -1]
        if depth > 0:
            total += depth * _hv_numpy(loss[: i + 1, :-1], ref[:-1])
    return float(total)


def hypervolume(values: Any, directions: Sequence[Any], reference: Sequence[float]) -> float:
    """Volume of objective space dominated by ``values`` and bounded by ``reference``.

    Points that do not strictly improve on the reference point in every objective add
    nothing and are ignored (rather than refused, as Optuna's function does).

    Args:
        values: ``(n_points, n_objectives)`` objective values.
        directions: ``"maximize"``/``"minimize"`` per objective.
        reference: the reference point, in the objectives' own units and directions (for
            a maximised accuracy, e.g. 0.0; for a minimised cost, a value worse than all).

    Returns:
        The hypervolume (0.0 for no point inside the reference box).
    """
    loss = to_loss(values, directions)
    ref = to_loss([list(reference)], directions)[0]
    if not np.isfinite(ref).all():
        raise ValueError(f"the reference point must be finite, got {list(reference)}")
    loss = loss[np.all(loss < ref, axis=1)]
    if len(loss) == 0:
        return 0.0
    if _optuna_hypervolume is not None:
        return float(_optuna_hypervolume(loss, ref))
    return _hv_numpy(loss[_mask_numpy(loss)], ref)


def hypervolume_history(values: Any, directions: Sequence[Any], reference: Sequence[float]) -> list[float]:
    """Hypervolume of the first ``k`` points, for ``k = 1 .. n`` (points in trial order)."""
    loss = to_loss(values, directions)
    signs = np.array([_direction_sign(d) for d in directions])  # values = loss * signs
    history: list[float] = []
    front = np.zeros((0, loss.shape[1]))
    current = 0.0
    for point in loss:
        if len(front) and np.any(np.all(front <= point, axis=1)):
            history.append(current)  # dominated by (or equal to) the front so far: no gain
            continue
        front = np.vstack([front[~np.all(point <= front, axis=1)], point])
        current = hypervolume(front * signs, directions, reference)
        history.append(current)
    return history
