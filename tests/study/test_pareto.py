"""Tests of nasbox.study.pareto: closed-form fronts, ranks and hypervolumes, through Optuna and the numpy twin."""

from __future__ import annotations

import numpy as np
import pytest

import nasbox.study.pareto as pareto
from nasbox.study.pareto import dominates, hypervolume, hypervolume_history, non_dominated_mask, non_domination_rank

MAX_MIN = ["maximize", "minimize"]  # (accuracy, cost)
MIN_MIN = ["minimize", "minimize"]


@pytest.fixture(params=["optuna", "numpy"])
def backend(request, monkeypatch):
    """Run each test through Optuna's private functions and through the numpy fallback."""
    if request.param == "numpy":
        monkeypatch.setattr(pareto, "_optuna_hypervolume", None)
        monkeypatch.setattr(pareto, "_optuna_rank", None)
        monkeypatch.setattr(pareto, "_optuna_is_pareto_front", None)
    else:
        assert pareto._optuna_hypervolume is not None, "Optuna's private hypervolume moved: update nasbox/pareto.py"
    return request.param


def test_points_on_a_line_are_all_non_dominated(backend):
    # accuracy rises with cost along a line: each point trades one for the other
    pts = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
    assert non_dominated_mask(pts, MAX_MIN).tolist() == [True] * 4
    assert non_domination_rank(pts, MAX_MIN).tolist() == [0] * 4
    # staircase under the reference (0, 5): rows of height 1 and widths 4, 3, 2, 1
    assert hypervolume(pts, MAX_MIN, [0.0, 5.0]) == pytest.approx(4 + 3 + 2 + 1)


def test_a_dominated_point_is_found_and_ranked_second(backend):
    pts = [[2.0, 2.0], [1.0, 3.0], [3.0, 3.0], [0.5, 4.0]]  # (1, 3) is beaten by (2, 2); (0.5, 4) by all
    assert non_dominated_mask(pts, MAX_MIN).tolist() == [True, False, True, False]
    assert non_domination_rank(pts, MAX_MIN).tolist() == [0, 1, 0, 2]
    # a dominated point adds nothing to the hypervolume
    assert hypervolume(pts, MAX_MIN, [0.0, 5.0]) == pytest.approx(hypervolume([pts[0], pts[2]], MAX_MIN, [0.0, 5.0]))


def test_staircase_hypervolume_by_hand(backend):
    # minimise both; the union of [x, 5] x [y, 5]: 4*1 + 3*2 + 1*1 = 11
    pts = [[1.0, 4.0], [2.0, 2.0], [4.0, 1.0]]
    assert hypervolume(pts, MIN_MIN, [5.0, 5.0]) == pytest.approx(11.0)
    assert non_dominated_mask(pts, MIN_MIN).all()


def test_mixed_directions_maximise_accuracy_minimise_cost(backend):
    pts = [[0.9, 300.0], [0.8, 100.0], [0.7, 200.0]]
    assert non_dominated_mask(pts, MAX_MIN).tolist() == [True, True, False]
    assert dominates([0.8, 100.0], [0.7, 200.0], MAX_MIN)
    assert not dominates([0.9, 300.0], [0.8, 100.0], MAX_MIN)
    # 0.8 x (400 - 100) + (0.9 - 0.8) x (400 - 300)
    assert hypervolume(pts, MAX_MIN, [0.0, 400.0]) == pytest.approx(250.0)
    # the same points, minimising both after negating accuracy, give the same volume
    assert hypervolume([[-a, c] for a, c in pts], MIN_MIN, [0.0, 400.0]) == pytest.approx(250.0)


def test_three_objectives_unit_points(backend):
    # points (1,0,0), (0,1,0), (0,0,1) under (2,2,2): the cube minus [0,1)^3
    pts = np.eye(3)
    assert hypervolume(pts, ["minimize"] * 3, [2.0, 2.0, 2.0]) == pytest.approx(7.0)
    assert hypervolume([[1.0, 1.0, 1.0]], ["minimize"] * 3, [2.0, 3.0, 4.0]) == pytest.approx(1 * 2 * 3)


def test_duplicates_are_all_non_dominated_and_count_once(backend):
    pts = [[1.0, 1.0], [1.0, 1.0], [0.5, 2.0]]
    assert non_dominated_mask(pts, MAX_MIN).tolist() == [True, True, False]
    assert hypervolume(pts, MAX_MIN, [0.0, 3.0]) == pytest.approx(2.0)


def test_points_outside_the_reference_add_nothing(backend):
    assert hypervolume([[0.5, 10.0]], MAX_MIN, [0.0, 5.0]) == 0.0
    assert hypervolume([[0.5, 5.0]], MAX_MIN, [0.0, 5.0]) == 0.0  # on the boundary
    assert hypervolume(np.zeros((0, 2)), MAX_MIN, [0.0, 5.0]) == 0.0
    assert non_dominated_mask(np.zeros((0, 2)), MAX_MIN).tolist() == []


def test_history_is_monotone_and_ends_at_the_total(backend):
    pts = [[1.0, 3.0], [0.5, 4.0], [2.0, 2.0], [3.0, 3.0], [1.0, 1.0]]
    history = hypervolume_history(pts, MAX_MIN, [0.0, 5.0])
    # (1,3): 2; (0.5,4) dominated: 2; (2,2) dominates (1,3): 6; (3,3): 6 + 1*2 = 8; (1,1): 8 + 1*1 = 9
    assert history == pytest.approx([2.0, 2.0, 6.0, 8.0, 9.0])
    assert history[-1] == pytest.approx(hypervolume(pts, MAX_MIN, [0.0, 5.0]))


def test_optuna_and_numpy_agree_on_random_points(monkeypatch):
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(60):
        n, d = int(rng.integers(1, 12)), int(rng.integers(1, 5))
        values = rng.integers(0, 6, size=(n, d)).astype(float)
        dirs = [str(rng.choice(["maximize", "minimize"])) for _ in range(d)]
        ref = [-1.0 if x == "maximize" else 7.0 for x in dirs]
        cases.append((values, dirs, ref))
    with_optuna = [(non_dominated_mask(v, d).tolist(), non_domination_rank(v, d).tolist(), hypervolume(v, d, r))
                   for v, d, r in cases]
    for name in ("_optuna_hypervolume", "_optuna_rank", "_optuna_is_pareto_front"):
        monkeypatch.setattr(pareto, name, None)
    for (v, d, r), (mask, rank, hv) in zip(cases, with_optuna, strict=True):
        assert non_dominated_mask(v, d).tolist() == mask
        assert non_domination_rank(v, d).tolist() == rank
        assert hypervolume(v, d, r) == pytest.approx(hv)


@pytest.mark.parametrize("values, directions, message", [
    ([[1.0, float("nan")]], MAX_MIN, "NaN"),
    ([[1.0, 2.0, 3.0]], MAX_MIN, "values must be"),
    ([[1.0, 2.0]], ["maximize", "smaller"], "direction"),
])
def test_bad_input_is_refused(values, directions, message):
    with pytest.raises(ValueError, match=message):
        non_dominated_mask(values, directions)


def test_optuna_study_directions_are_accepted():
    import optuna

    dirs = [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert non_dominated_mask([[0.9, 300.0], [0.7, 200.0], [0.6, 250.0]], dirs).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="finite"):
        hypervolume([[0.9, 1.0]], MAX_MIN, [0.0, float("inf")])
