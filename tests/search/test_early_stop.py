"""Tests of nasbox.search.early_stop: rung arithmetic, the MO-ASHA promotion rule, rung results on trials,
and a stop in training."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from optuna.trial import TrialState

from nasbox.data import load_dataset
from nasbox.errors import ConfigError
from nasbox.evaluate import BriefTraining, Candidate, EvalContext
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.model.build import build_model
from nasbox.search import make_sampler
from nasbox.search.early_stop import (
    STOP_ATTR,
    ParetoEarlyStopper,
    RungJudge,
    peers_at,
    record_rung,
    rung_iterations,
    rung_results,
)
from nasbox.train.recipe import TrainConfig

CPU = torch.device("cpu")
SHAPE = (3, 16, 16)
MACS = ("macs",)

optuna.logging.set_verbosity(optuna.logging.WARNING)


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- rung_iterations


@pytest.mark.parametrize(("total", "fractions", "expected"), [
    (100, (0.25, 0.5), [25, 50]),
    (4, (0.25, 0.5), [1, 2]),
    (3, (0.25, 0.5), [1]),  # floor(0.75) -> 1 and floor(1.5) = 1 coincide
    (2, (0.25, 0.5), [1]),  # floor(1.0) = 1 twice
    (1, (0.25, 0.5), []),  # no iteration below the last
    (10, (0.5, 0.2, 0.5), [2, 5]),  # sorted, distinct
    (1000, (0.1, 0.3, 0.9), [100, 300, 900]),
])
def test_rung_iterations(total, fractions, expected):
    assert rung_iterations(total, fractions) == expected


def test_rung_iterations_default_fractions():
    assert rung_iterations(230) == [57, 115]


@pytest.mark.parametrize(("total", "fractions"), [(0, (0.5,)), (10, (0.0,)), (10, (1.0,)), (10, (1.5,)), (2.5, (0.5,))])
def test_rung_iterations_refuses_bad_input(total, fractions):
    with pytest.raises(ConfigError):
        rung_iterations(total, fractions)


# ----------------------------------------------------------------------------- the promotion rule


@pytest.mark.parametrize("kwargs", [{"reduction_factor": 1}, {"reduction_factor": 0.5}, {"min_peers": -1},
                                    {"min_peers": 1.5}])
def test_stopper_refuses_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        ParetoEarlyStopper(**kwargs)


def test_fewer_than_min_peers_never_stops():
    stopper = ParetoEarlyStopper(reduction_factor=3, min_peers=4, cost_names=MACS)
    better = [(0.9, {"macs": 1.0})] * 3  # each dominates the candidate
    assert not stopper.should_stop(0, 0.1, {"macs": 100.0}, better)
    assert not stopper.should_stop(0, 0.1, {"macs": 100.0}, [])
    assert stopper.should_stop(0, 0.1, {"macs": 100.0}, better + [(0.8, {"macs": 2.0})])


def test_dominated_by_everything_stops():
    stopper = ParetoEarlyStopper(cost_names=("macs", "params", "latency_ms"))
    # a front of four mutually non-dominated peers, each better than the candidate in every objective
    peers = [(0.9, {"macs": 40.0, "params": 10.0, "latency_ms": 1.0}),
             (0.8, {"macs": 30.0, "params": 20.0, "latency_ms": 1.0}),
             (0.7, {"macs": 20.0, "params": 30.0, "latency_ms": 1.0}),
             (0.6, {"macs": 10.0, "params": 40.0, "latency_ms": 1.0})]
    assert stopper.should_stop(0, 0.5, {"macs": 50.0, "params": 50.0, "latency_ms": 2.0}, peers)


def test_front_zero_never_stops_even_with_the_lowest_accuracy():
    stopper = ParetoEarlyStopper(reduction_factor=3, min_peers=4, cost_names=("macs", "params"))
    peers = [(0.5 + 0.02 * i, {"macs": 100.0 + i, "params": 50.0 + i}) for i in range(20)]
    cheapest = {"macs": 1.0, "params": 1.0}
    assert not stopper.should_stop(0, 0.01, cheapest, peers)
    # cheapest in one cost only is still non-dominated
    assert not stopper.should_stop(0, 0.01, {"macs": 1.0, "params": 1e9}, peers)
    # the same accuracy at a cost nobody beats on either axis stops
    assert stopper.should_stop(0, 0.01, {"macs": 1e9, "params": 1e9}, peers)


@pytest.mark.parametrize("n", [5, 9, 10, 12, 31])
@pytest.mark.parametrize("eta", [2, 3, 4])
def test_promotes_exactly_ceil_n_over_eta_on_a_chain(n, eta):
    """Points on a line where each dominates the next: ranks 0..n-1, the first ceil(n / eta) go on."""
    points = [(1.0 - i / n, {"macs": float(i)}) for i in range(n)]
    stopper = ParetoEarlyStopper(reduction_factor=eta, min_peers=4, cost_names=MACS)
    promoted = [i for i, (acc, costs) in enumerate(points)
                if not stopper.should_stop(0, acc, costs, points[:i] + points[i + 1:])]
    assert promoted == list(range(math.ceil(n / eta)))


def test_a_single_front_is_promoted_whole():
    """On a line of trade-offs (more accuracy costs more) everyone is non-dominated, so nobody stops."""
    points = [(i / 10, {"macs": float(i)}) for i in range(10)]
    stopper = ParetoEarlyStopper(reduction_factor=3, min_peers=4, cost_names=MACS)
    assert not any(stopper.should_stop(0, a, c, points[:i] + points[i + 1:]) for i, (a, c) in enumerate(points))


def test_crowding_distance_breaks_ties_in_the_straddling_front():
    stopper = ParetoEarlyStopper(reduction_factor=2, min_peers=4, cost_names=MACS)
    a = (1.0, {"macs": 0.0})  # dominates everyone: front 0
    b, c, d = (0.9, {"macs": 9.0}), (0.5, {"macs": 5.0}), (0.1, {"macs": 1.0})  # front 1
    e = (0.0, {"macs": 10.0})  # dominated by all: front 2
    # n = 5, keep ceil(5 / 2) = 3: a, then two of front 1, the boundary points (infinite distance) first
    assert stopper.should_stop(0, *c, [a, b, d, e])
    assert not stopper.should_stop(0, *b, [a, c, d, e])
    assert not stopper.should_stop(0, *d, [a, b, c, e])
    assert stopper.should_stop(0, *e, [a, b, c, d])


def test_nan_accuracy_and_missing_cost_rank_worst():
    stopper = ParetoEarlyStopper(reduction_factor=3, min_peers=4, cost_names=("macs", "params"))
    peers = [(0.5, {"macs": 10.0, "params": 10.0})] * 4
    assert stopper.should_stop(0, float("nan"), {"macs": 1.0, "params": 1.0}, peers) is False  # cheapest: front 0
    assert stopper.should_stop(0, float("nan"), {"macs": 10.0, "params": 10.0}, peers)
    assert stopper.should_stop(0, 0.5, {"macs": 10.0}, peers)  # params missing: infinite


# ----------------------------------------------------------------------------- rung results on trials


def _trial(study, state, rung=None, iteration=10, accuracy=0.5, costs=None):
    t = study.ask()
    for k, v in (costs or {}).items():
        t.set_user_attr(k, v)
    if rung is not None:
        record_rung(t, rung, iteration, accuracy)
    if state == TrialState.COMPLETE:
        study.tell(t, [accuracy, 1.0])
    elif state is not None:
        study.tell(t, state=state)
    return t


COSTS = {"macs": 100, "params": 20, "latency_ms": 0.5}


def test_record_and_peers_round_trip():
    study = optuna.create_study(directions=["maximize", "minimize"])
    _trial(study, TrialState.COMPLETE, 0, accuracy=0.7, costs=COSTS)
    _trial(study, TrialState.PRUNED, 0, accuracy=0.2, costs={**COSTS, "macs": 50})  # stopped at the rung
    _trial(study, None, 0, accuracy=0.4, costs=COSTS)  # still running (another worker)
    _trial(study, TrialState.COMPLETE, 0, accuracy=0.9)  # costs not recorded: left out
    _trial(study, TrialState.FAIL, 0, accuracy=0.8, costs=COSTS)  # failed: left out
    _trial(study, TrialState.COMPLETE, 0, iteration=20, accuracy=0.6, costs=COSTS)  # another fidelity
    _trial(study, TrialState.COMPLETE, 1, accuracy=0.3, costs=COSTS)  # another rung
    me = _trial(study, None, 0, accuracy=0.1, costs=COSTS)

    stored = study.get_trials(deepcopy=False)[0].user_attrs["rung0"]
    assert stored == {"iteration": 10, "accuracy": 0.7}
    peers = peers_at(study, 0, me.number, iteration=10)
    assert peers == [(0.7, {"macs": 100.0, "params": 20.0, "latency_ms": 0.5}),
                     (0.2, {"macs": 50.0, "params": 20.0, "latency_ms": 0.5}),
                     (0.4, {"macs": 100.0, "params": 20.0, "latency_ms": 0.5})]
    assert [a for a, _ in peers_at(study, 0, me.number)] == [0.7, 0.2, 0.4, 0.6]
    assert [a for a, _ in peers_at(study, 0, me.number, cost_names=())] == [0.7, 0.2, 0.4, 0.9, 0.6]
    assert [a for a, _ in peers_at(study, 0, None, iteration=10)] == [0.7, 0.2, 0.4, 0.1]
    assert peers_at(study, 1, me.number) == [(0.3, {"macs": 100.0, "params": 20.0, "latency_ms": 0.5})]
    assert peers_at(study, 2, me.number) == []
    assert rung_results(study.get_trials()[6].user_attrs) == {1: {"iteration": 10, "accuracy": 0.3}}


def test_peers_are_shared_between_workers_through_the_storage(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = str(tmp_path / "journal.log")
    one = optuna.create_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)),
                              directions=["maximize", "minimize"])
    two = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
    running = _trial(one, None, 0, accuracy=0.75, costs=COSTS)
    asking = two.ask()
    assert peers_at(two, 0, asking.number) == [(0.75, {"macs": 100.0, "params": 20.0, "latency_ms": 0.5})]
    assert running.number != asking.number


def test_stopped_trials_do_not_break_the_samplers():
    """Stopped trials are told PRUNED, with no values (``Trial.report`` is refused in multi-objective
    studies): the samplers the search uses go on sampling beside them."""
    for name in ("tpe", "nsga2", "random"):
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(name, 0, 2))
        for i in range(24):
            t = study.ask()
            x = t.suggest_float("x", 0.0, 1.0)
            record_rung(t, 0, 5, x)
            if i % 2:
                study.tell(t, state=TrialState.PRUNED)
            else:
                study.tell(t, [x, 1.0 - x])
        assert 0.0 <= study.ask().suggest_float("x", 0.0, 1.0) <= 1.0
        best = study.best_trials  # the front is made of told values only: no pruned trial enters it
        assert best and all(t.state == TrialState.COMPLETE and t.values == [t.params["x"], 1.0 - t.params["x"]]
                            for t in best)


# ----------------------------------------------------------------------------- end to end with train_model


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", synthetic_shape=SHAPE, synthetic_size=300)


def _candidate() -> Candidate:
    arch = Architecture(SHAPE, 10, stages=(Stage((ConvBlock(8),), Pool("max")), Stage((ConvBlock(16),), Pool("max"))),
                        head=Head("gap"))
    return Candidate(arch, analyze(arch), 0, build_model(arch, seed=0))


CONFIG = TrainConfig(iterations=8, batch_size=32, augment=False, amp="off", channels_last="off")


def test_a_rung_judge_needs_every_cost():
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.raises(ConfigError, match="latency_ms"):
        RungJudge(study.ask(), ParetoEarlyStopper(), [2, 4], {"macs": 1, "params": 1})


@pytest.mark.parametrize("peer_accuracy", [1.0, 0.0])
def test_brief_training_stops_at_the_first_rung_when_dominated(data, peer_accuracy):
    study = optuna.create_study(directions=["maximize", "minimize"])
    rungs = rung_iterations(CONFIG.iterations)
    assert rungs == [2, 4]
    # four finished candidates that are better (or worse) at both rungs and cost less (more)
    peer_costs = {k: v * (0.5 if peer_accuracy else 2.0) for k, v in COSTS.items()}
    for _ in range(4):
        t = study.ask()
        for name, value in peer_costs.items():
            t.set_user_attr(name, value)
        for k, it in enumerate(rungs):
            record_rung(t, k, it, peer_accuracy)
        study.tell(t, [peer_accuracy, 1.0])
    trial = study.ask()
    judge = RungJudge(trial, ParetoEarlyStopper(), rungs, COSTS)
    evaluator = BriefTraining(EvalContext(data=data, device=CPU, epochs=None, iterations=CONFIG.iterations,
                                          batch_size=CONFIG.batch_size, lr=CONFIG.lr, augment=False, seed=0))
    assert sorted(evaluator._callbacks(judge)) == rungs
    result = evaluator.evaluate(_candidate(), judge)

    attrs = study.get_trials(deepcopy=False)[trial.number].user_attrs
    assert {k: attrs[k] for k in COSTS} == COSTS  # costs stored before training ended, for other workers
    results = rung_results(attrs)
    if peer_accuracy:  # dominated: stops at iteration 2
        assert result.stopped_at == 2
        assert list(results) == [0]
        assert results[0]["iteration"] == 2
        assert results[0]["accuracy"] == pytest.approx(result.accuracy)
        assert attrs[STOP_ATTR] == {"rung": 0, "iteration": 2, "accuracy": results[0]["accuracy"], "peers": 4}
    else:  # dominates every peer: promoted at both rungs, trains to the end
        assert result.stopped_at is None
        assert [r["iteration"] for r in results.values()] == [2, 4]
        assert STOP_ATTR not in attrs
