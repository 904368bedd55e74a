"""Tests of the search's steps, each alone: check (nasbox.search.check), record (nasbox.search.record),
coordinate (nasbox.search.coordinate) and the study's setup (nasbox.search.session)."""

from __future__ import annotations

import math
import time

import optuna
import pytest
import torch
from optuna.trial import TrialState, create_trial

from nasbox.errors import StorageError
from nasbox.evaluate.base import Candidate
from nasbox.measure.latency import Latency
from nasbox.model import Architecture, ConvBlock, Head, Stage, analyze
from nasbox.model.build import build_model
from nasbox.search.check import Constraints
from nasbox.search.config import SearchConfig
from nasbox.search.coordinate import Coordinator, Ledger, Next, Tally
from nasbox.search.costs import CostMeter, count_costs
from nasbox.search.record import Recorder, RepeatIndex
from nasbox.search.session import check_same_setup, open_search_study, setup_of
from nasbox.spaces import get_space
from nasbox.study.schema import TRAINED, Attr, StudyPaths, TrialStatus, counts_toward_budget, trial_status
from nasbox.study.storage import open_storage

ARCH = Architecture((1, 8, 8), 3, (Stage((ConvBlock(4),)),), Head())


# --------------------------------------------------------------------------- check


def test_constraints_set_optuna_constraints_and_name_what_they_break():
    study = optuna.create_study(directions=["maximize"])
    trial = study.ask()
    limits = Constraints(max_params=100, max_macs=10_000, max_latency_ms=1.0)
    metrics = {Attr.PARAMS: 150, Attr.MACS: 5_000, Attr.LATENCY_MS: 2.5}
    assert limits.apply(trial, metrics, analytic=True) == ["params 150 > 100"]
    assert limits.apply(trial, metrics, analytic=False) == ["latency_ms 2.5 > 1"]
    study.tell(trial, [0.0])
    recorded = {k: v for k, v in study.trials[0].system_attrs.items() if k.startswith("constraints:")}
    assert recorded == {"constraints:max_params": 50.0, "constraints:max_macs": -5000.0,
                        "constraints:max_latency_ms": 1.5}  # excess over the limit: > 0 is infeasible
    assert limits.analytic_excess(analyze(ARCH)) is False and Constraints(max_params=10).analytic_excess(analyze(ARCH))
    assert Constraints().apply(study.ask(), metrics, analytic=True) == []  # no limit, no constraint


# --------------------------------------------------------------------------- measure

MEASURED = Architecture((3, 16, 16), 10, (Stage((ConvBlock(8), ConvBlock(16, stride=2))),), Head())


def _candidate(arch=MEASURED):
    return Candidate(arch, analyze(arch), 0, build_model(arch, seed=3))


def test_a_trial_records_whether_its_cuda_latency_was_a_replayed_graph(monkeypatch):
    assert Attr.LATENCY_CUDA_GRAPH not in CostMeter("cpu").time(_candidate())  # a CPU times eagerly, always
    for graphed in (True, False):
        monkeypatch.setattr("nasbox.search.costs.measure_latency",
                            lambda *a, graphed=graphed, **k: Latency(0.3, 0.01, 20, 10, 0, "cuda:0", graphed))
        got = CostMeter("cpu").time(_candidate())
        assert got[Attr.LATENCY_MS] == 0.3 and got[Attr.LATENCY_CUDA_GRAPH] is graphed


def test_on_a_cpu_the_traced_counts_are_taken_before_training(monkeypatch):
    meter = CostMeter("cpu")
    assert meter.overlap_counts is False
    counts = meter.count_later(_candidate())
    calls = []
    monkeypatch.setattr("nasbox.search.costs.count_costs", lambda *a: calls.append(a))
    assert counts.result()[Attr.MACS_FVCORE] == analyze(MEASURED).macs and calls == []  # counted already
    assert meter._helper is None


def test_on_a_gpu_a_helper_process_counts_while_the_candidate_trains(monkeypatch):
    monkeypatch.setattr(CostMeter, "overlap_counts", property(lambda self: True))
    meter = CostMeter("cpu")
    try:
        candidate = _candidate()
        counts = meter.count_later(candidate)
        assert meter._helper is not None and counts._future is not None
        got = counts.result()
        local = count_costs(candidate.model, MEASURED.input_shape)
        assert {k: got[k] for k in (Attr.MACS_FVCORE, Attr.MACS_THOP)} == \
            {k: local[k] for k in (Attr.MACS_FVCORE, Attr.MACS_THOP)}
        assert got[Attr.MACS_FVCORE] == analyze(MEASURED).macs and got["count_seconds"] > 0
        assert meter._helper is not None  # kept for the next candidate
    finally:
        meter.close()
    assert meter._helper is None


@pytest.mark.slow  # a helper process of its own (spawn, torch import)
def test_counts_the_helper_cannot_take_are_counted_in_the_worker(monkeypatch):
    monkeypatch.setattr(CostMeter, "overlap_counts", property(lambda self: True))
    meter = CostMeter("cpu")
    arch = Architecture(MEASURED.input_shape, MEASURED.num_classes, MEASURED.stages, MEASURED.head)
    object.__setattr__(arch, "hook", lambda: None)  # the helper process cannot receive it: pickle refuses lambdas
    candidate = Candidate(arch, analyze(arch), 0, build_model(arch, seed=0))
    counts = meter.count_later(candidate)
    candidate.model = None  # as brief training leaves it: the count is built again from the genotype
    assert counts._future is not None  # it went to the helper ...
    try:
        assert counts.result()[Attr.MACS_FVCORE] == analyze(MEASURED).macs  # ... which failed; counted here instead
        assert meter._helper is not None  # the helper itself is fine: it serves the next candidate
        assert meter.count_later(_candidate()).result()[Attr.MACS_FVCORE] == analyze(MEASURED).macs
    finally:
        meter.close()


@pytest.mark.slow  # a helper process of its own, killed and started again
def test_a_helper_that_dies_is_replaced_and_its_count_taken_in_the_worker(monkeypatch):
    import os
    import signal

    monkeypatch.setattr(CostMeter, "overlap_counts", property(lambda self: True))
    meter = CostMeter("cpu")
    try:
        meter.count_later(_candidate()).result()  # the helper is up
        pid = next(iter(meter._helper._processes))
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        counts = meter.count_later(_candidate())
        assert counts.result()[Attr.MACS_FVCORE] == analyze(MEASURED).macs
        assert meter._helper is None  # the broken helper was let go ...
        again = meter.count_later(_candidate())
        assert again._future is not None and again.result()[Attr.MACS_FVCORE] == analyze(MEASURED).macs  # ... replaced
    finally:
        meter.close()


def test_on_a_gpu_only_the_first_latency_waits_for_the_clocks(monkeypatch):
    seen = []

    def fake(model, shape, **kwargs):
        seen.append(kwargs)
        return Latency(1.0, 0.1, 20, 10, 0, str(kwargs["device"]), True)

    monkeypatch.setattr("nasbox.search.costs.measure_latency", fake)
    gpu, cpu = CostMeter(torch.device("cuda")), CostMeter("cpu")
    for meter in (gpu, gpu, gpu, cpu, cpu):
        meter.time(_candidate())
    assert ["min_warmup_s" in k for k in seen] == [False, True, True, False, False]
    assert seen[1]["min_warmup_s"] < 0.5  # measure_latency's floor on CUDA is 0.5 s


# --------------------------------------------------------------------------- record


def test_recorder_writes_status_last_and_tells_by_status(tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    rec = Recorder(study, StudyPaths(tmp_path), ("accuracy", "macs"), device="cpu", evaluator="brief",
                   fidelity={"iterations": 2})
    done, stopped, failed, lost = (study.ask() for _ in range(4))
    rec.start(done, ARCH)
    assert StudyPaths(tmp_path).arch_json(ARCH.arch_id).is_file()
    rec.finish(done, {Attr.ACCURACY: 0.5, Attr.MACS: 10}, TrialStatus.COMPLETE)
    rec.finish(stopped, {Attr.ACCURACY: 0.2, Attr.MACS: 10}, TrialStatus.STOPPED)
    rec.fail(failed, "TrainingError: NaN")
    rec.lose(lost, "interrupted")
    t = study.get_trials()
    assert [x.state for x in t] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL]
    assert [trial_status(x) for x in t] == ["complete", "stopped", "failed", "lost"]
    assert t[0].values == [0.5, 10.0] and list(t[0].user_attrs)[-1] == Attr.STATUS  # the status is the last write
    assert t[0].user_attrs[Attr.FIDELITY_KEY] == '{"iterations": 2}' and t[0].user_attrs[Attr.EVALUATOR] == "brief"
    assert rec.values({Attr.ACCURACY: 0.1}) == [0.1, math.inf]  # a missing metric is the worst value


def test_repeat_index_finds_the_first_complete_trial_of_a_genotype_at_a_fidelity():
    def made(number_attrs):
        return create_trial(values=[0.5], user_attrs=number_attrs)

    trials = [made({Attr.STATUS: "complete", Attr.ARCH_ID: "a", Attr.FIDELITY_KEY: "f1"}),
              made({Attr.STATUS: "repeat", Attr.ARCH_ID: "b", Attr.FIDELITY_KEY: "f1"}),
              made({Attr.STATUS: "complete", Attr.ARCH_ID: "a", Attr.FIDELITY_KEY: "f2"}),
              made({Attr.STATUS: "complete", Attr.ARCH_ID: "a", Attr.FIDELITY_KEY: "f1"})]
    for i, t in enumerate(trials):
        t.number = i
    index = RepeatIndex()
    index.update(trials[::-1])
    assert index.find("a", "f1").number == 0 and index.find("a", "f2").number == 2
    assert index.find("b", "f1") is None  # a repeat is not a source of scores


# --------------------------------------------------------------------------- coordinate


def test_the_coordinator_goes_waits_or_stops_by_the_counted_and_running_trials(tmp_path):
    study = optuna.create_study(storage=open_storage(None, tmp_path)[0])
    coord = Coordinator(study, budget=2, heartbeat_s=1)
    assert coord.next(study.get_trials()) is Next.GO
    first = study.ask()
    first.set_user_attr(Attr.STATUS, "complete")
    study.tell(first, 1.0)
    running = study.ask()
    assert coord.next(study.get_trials()) is Next.WAIT  # the other worker holds the last trial
    coord.ledger.fetch(study, running.number + 1)
    assert coord.surplus(coord.ledger.tally(running.number + 1))  # a trial asked now would be beyond the budget
    study.tell(running, state=TrialState.FAIL)  # it died: lost, so the budget is open again
    assert coord.next(study.get_trials()) is Next.GO
    last = study.ask()
    last.set_user_attr(Attr.STATUS, "failed")
    study.tell(last, state=TrialState.FAIL)
    assert coord.next(study.get_trials()) is Next.DONE


def tally(trials) -> Tally:
    """The reference the ledger is held to: every trial of a read counted in full, by the one status rule."""
    accuracies = [t.user_attrs[Attr.ACCURACY] for t in trials
                  if trial_status(t) in TRAINED and isinstance(t.user_attrs.get(Attr.ACCURACY), (int, float))]
    return Tally(sum(counts_toward_budget(t) for t in trials), sum(t.state == TrialState.RUNNING for t in trials),
                 max(accuracies, default=None))


def test_the_ledger_counts_like_a_full_count_and_reads_only_what_may_have_changed(tmp_path, monkeypatch):
    study = optuna.create_study(storage=open_storage(None, tmp_path)[0])
    ledger, digested, reads = Ledger(), [], []
    ledger.on_finished = lambda t: digested.append(t.number)
    real = study._storage.get_trial
    monkeypatch.setattr(study._storage, "get_trial", lambda trial_id: reads.append(trial_id) or real(trial_id))
    held = []
    for i in range(40):
        trial = study.ask()
        if i % 7 == 3:
            held.append(trial)  # finishes later, out of order
        else:
            trial.set_user_attr(Attr.STATUS, "complete" if i % 5 else "failed")
            trial.set_user_attr(Attr.ACCURACY, i / 100)
            study.tell(trial, 1.0) if i % 5 else study.tell(trial, state=TrialState.FAIL)
        if i % 4 == 0 and held and i > 10:
            done = held.pop(0)
            done.set_user_attr(Attr.STATUS, "complete")
            done.set_user_attr(Attr.ACCURACY, 0.9 if i < 30 else 0.1)
            study.tell(done, 1.0)
        reads.clear()
        ledger.fetch(study, trial.number + 1)
        assert len(reads) <= 2 + len(held)  # the new trial, the one that changed, those still running
        trials = study.get_trials(deepcopy=False)
        assert ledger.tally() == tally(trials)
        before = trials[: trial.number]
        assert ledger.tally(trial.number).running == tally(before).running  # "asked before it"
    assert sorted(digested) == sorted(set(digested)) and len(digested) == 40 - len(held)
    assert ledger.tally().best_accuracy == 0.9 and held
    full = Ledger()
    full.update(study.get_trials(deepcopy=False))  # a whole read gives the same
    assert full.tally() == ledger.tally() and set(full.open) == set(ledger.open) == {t.number for t in held}


def test_the_ledger_looks_again_at_what_it_could_not_read(tmp_path, monkeypatch):
    """A trial the storage did not give (KeyError) and a read with a gap are looked at again later:
    nothing is lost, nothing counted twice."""
    study = optuna.create_study(storage=open_storage(None, tmp_path)[0])
    for _ in range(6):
        t = study.ask()
        t.set_user_attr(Attr.STATUS, "complete")
        study.tell(t, 1.0)
    ledger = Ledger()
    trials = study.get_trials(deepcopy=False)
    ledger.update([trials[0], trials[1], trials[4]])  # a read with a gap: 2 and 3 missing
    assert ledger.tally().finished == 3 and {2, 3} <= set(ledger.open)
    real = study._storage.get_trial_id_from_study_id_trial_number

    def flaky(study_id, number):
        if number == 5:
            raise KeyError(number)  # not there yet
        return real(study_id, number)

    monkeypatch.setattr(study._storage, "get_trial_id_from_study_id_trial_number", flaky)
    ledger.fetch(study, 6)
    assert ledger.tally().finished == 5 and ledger.upto == 5  # 5 unread: it stays to read
    monkeypatch.undo()
    ledger.fetch(study, 6)
    assert ledger.tally() == tally(study.get_trials(deepcopy=False)) and ledger.tally().finished == 6
    ledger.update(study.get_trials(deepcopy=False))  # a whole read of what is digested: no double count
    assert ledger.tally().finished == 6 and not ledger.open


# --------------------------------------------------------------------------- session


def test_a_study_keeps_its_setup_and_names_its_metrics(tmp_path):
    space = get_space("seed_cnn", input_shape=(1, 28, 28), num_classes=10)
    config = SearchConfig(objectives=("accuracy", "params"), study="s")
    storage, display = open_storage(None, tmp_path)
    setup = setup_of(config, space, {"epochs": 1.0})
    study = open_search_study(storage, display, "s", config, setup)
    assert study.metric_names == ["accuracy", "params"]
    assert study.user_attrs["setup"] == setup and study.user_attrs["config"]["space_spec"] == "seed_cnn"
    again = open_search_study(storage, display, "s", config, setup)
    assert again.user_attrs["setup"] == setup
    with pytest.raises(StorageError, match=r"fidelity epochs=1.0, not epochs=2.0"):
        open_search_study(storage, display, "s", config, {**setup, "fidelity": {"epochs": 2.0}})


def test_check_same_setup_names_the_first_difference_and_lets_older_studies_pass():
    check_same_setup({"space": "seed_cnn"}, {"space": "seed_cnn", "fidelity": {"lr": 0.1}}, "study")  # no fidelity then
    with pytest.raises(StorageError, match=r"space='seed_cnn', not 'resnet'"):
        check_same_setup({"space": "seed_cnn"}, {"space": "resnet"}, "study")
    with pytest.raises(StorageError, match=r"fidelity batch_size=32, lr=0.1, not batch_size=16, lr=0.2"):
        check_same_setup({"fidelity": {"lr": 0.1, "batch_size": 32, "epochs": 1}},
                         {"fidelity": {"lr": 0.2, "batch_size": 16, "epochs": 1}}, "study")


def test_a_study_from_before_the_setup_held_its_fidelity_is_held_to_its_trials(tmp_path):
    space = get_space("seed_cnn", input_shape=(1, 28, 28), num_classes=10)
    config = SearchConfig(study="old")
    storage, display = open_storage(None, tmp_path)
    setup = setup_of(config, space, {"lr": 0.1, "batch_size": 32})
    study = open_search_study(storage, display, "old", config, setup)
    study.set_user_attr("setup", {k: v for k, v in setup.items() if k != "fidelity"})  # as older versions wrote it
    study.add_trial(create_trial(values=[0.5, 1, 1, 1], user_attrs={Attr.FIDELITY: {"lr": 0.1, "batch_size": 32}}))
    open_search_study(storage, display, "old", config, setup)  # the same fidelity resumes
    with pytest.raises(StorageError, match=r"fidelity lr=0.1, not lr=0.05"):
        open_search_study(storage, display, "old", config, {**setup, "fidelity": {"lr": 0.05, "batch_size": 32}})
