"""Tests of nasbox.search: budgets, constraints, failures, repeats, resume, concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch

import nasbox.evaluate.brief
import nasbox.model.build
import nasbox.search.pipeline
import nasbox.search.propose
import nasbox.train.brief
from nasbox.errors import ConfigError, StorageError
from nasbox.report import write_report
from nasbox.search import SearchConfig, SearchEnded, SearchStarted, TrialEnded, TrialStarted, run_search
from nasbox.study.schema import Attr, count_finished

DATA = {"synthetic_shape": (3, 16, 16), "synthetic_size": 300}
TINY = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}
# one genotype only: every trial after the first is a repeat
SINGLE = {**TINY, "channels": "8", "activations": "relu", "pools": "max", "skips": "false"}


def config(tmp_path: Path, **kw) -> SearchConfig:
    base = dict(space="seed_cnn", space_args=dict(TINY), dataset="synthetic", dataset_options=DATA, iterations=4,
                batch_size=32, budget=3, reports_dir=str(tmp_path / "reports"), device="cpu", seed=0)
    base.update(kw)
    return SearchConfig(**base)


def load(cfg: SearchConfig, name: str = "seed_cnn-synthetic") -> optuna.Study:
    from nasbox.study.storage import open_storage

    storage, _ = open_storage(None, Path(cfg.reports_dir) / name)
    return optuna.load_study(study_name=name, storage=storage)


def test_small_search_finishes_with_the_budget_and_writes_its_files(tmp_path):
    cfg = config(tmp_path, budget=4)
    events = []
    result = run_search(cfg, events.append)
    study = load(cfg)
    assert count_finished(study.get_trials()) == 4 == len(result.trials)
    assert set(result.trials["status"]) <= {"complete", "repeat"}
    assert (result.report_dir / "trials.csv").is_file() and (result.report_dir / "pareto.csv").is_file()
    for arch_id in result.trials["arch_id"]:
        assert (result.report_dir / "archs" / f"{arch_id}.json").is_file()
    # every trial stores its metrics, fidelity and device
    for t in study.get_trials():
        for key in ("accuracy", "macs", "params", "latency_ms", "macs_thop", "fidelity", "device", "encoding"):
            assert key in t.user_attrs, key
        assert t.user_attrs["fidelity"]["iterations"] == 4
    # the Pareto set is non-dominated among the completed trials
    done = result.trials[result.trials["status"].isin(["complete", "repeat"])]
    for _, p in result.pareto.iterrows():
        for _, q in done.iterrows():
            better_or_equal = (q.accuracy >= p.accuracy and q.macs <= p.macs and q.params <= p.params
                               and q.latency_ms <= p.latency_ms)
            strictly = (q.accuracy > p.accuracy or q.macs < p.macs or q.params < p.params
                        or q.latency_ms < p.latency_ms)
            assert not (better_or_equal and strictly), (p.number, q.number)
    assert isinstance(events[0], SearchStarted) and isinstance(events[-1], SearchEnded)
    assert events[0].budget == 4 and events[0].evaluator == "brief" and events[0].finished == 0
    ends = [e for e in events if isinstance(e, TrialEnded)]
    assert [e.index for e in ends] == [1, 2, 3, 4] and len([e for e in events if isinstance(e, TrialStarted)]) == 4
    assert all(e.eta >= 0 for e in ends) and ends[-1].eta == 0
    assert [e.best_accuracy for e in ends] == [max(result.trials["accuracy"][: i + 1]) for i in range(4)]


def test_infeasible_candidates_are_never_trained(tmp_path, monkeypatch):
    calls = []
    real = nasbox.train.brief.train_model
    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = config(tmp_path, max_params=50, budget=3)  # every candidate has far more than 50 parameters
    result = run_search(cfg)
    assert calls == []
    assert list(result.trials["status"]) == ["infeasible"] * 3
    study = load(cfg)
    for t in study.get_trials():
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.constraints["max_params"] == t.user_attrs["params"] - 50 > 0
    assert result.pareto.empty  # no feasible trial, no front


def test_feasible_and_infeasible_mix_by_macs(tmp_path, monkeypatch):
    calls = []
    real = nasbox.train.brief.train_model
    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = run_search(config(tmp_path, max_macs=60_000, budget=6, sampler="random"))
    df = result.trials
    assert ((df["status"] == "infeasible") == (df["macs"] > 60_000)).all()
    assert len(calls) == int((df["status"] == "complete").sum())


def test_a_forced_exception_and_a_nan_do_not_stop_the_study(tmp_path, monkeypatch):
    import nasbox.model.build

    real_build = nasbox.model.build.build_model
    count = {"n": 0}

    class NaNModel(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) * float("nan")

    def build(arch, seed=None):
        count["n"] += 1
        model = real_build(arch, seed=seed)
        if count["n"] == 1:
            raise RuntimeError("forced failure")
        if count["n"] == 2:
            return NaNModel(model)
        return model

    monkeypatch.setattr(nasbox.search.pipeline, "build_model", build)
    result = run_search(config(tmp_path, budget=4, space_args=dict(TINY, channels="4,8,12,16")))
    df = result.trials
    assert len(df) == 4
    failed = df[df["status"] == "failed"]
    assert len(failed) == 2
    reasons = " | ".join(failed["fail_reason"])
    assert "forced failure" in reasons and "loss became nan" in reasons
    assert (df["state"] == "FAIL").sum() == 2


def test_repeated_genotype_is_not_trained_again(tmp_path, monkeypatch):
    calls = []
    real = nasbox.train.brief.train_model
    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = run_search(config(tmp_path, space_args=SINGLE, budget=3))
    df = result.trials
    assert len(calls) == 1
    assert list(df["status"]) == ["complete", "repeat", "repeat"]
    assert df["arch_id"].nunique() == 1 and list(df["repeat_of"][1:]) == [0, 0]
    assert df["accuracy"].nunique() == 1
    assert len(result.pareto) == 1  # one row per genotype


def test_resume_reaches_exactly_the_budget(tmp_path):
    run_search(config(tmp_path, budget=2))
    result = run_search(config(tmp_path, budget=5))
    assert len(result.trials) == 5
    again = run_search(config(tmp_path, budget=5))  # nothing left to do
    assert len(again.trials) == 5
    # a resumed sampler does not replay the first run's samples
    study = load(config(tmp_path))
    params = [json.dumps(t.params, sort_keys=True) for t in study.get_trials()]
    assert params[2] != params[0]


def test_interrupt_keeps_finished_trials_and_resume_reaches_budget(tmp_path, monkeypatch):
    real = nasbox.train.brief.train_model
    count = {"n": 0}

    def train(*a, **k):
        count["n"] += 1
        if count["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", train)
    cfg = config(tmp_path, budget=4, space_args=dict(TINY, channels="4,8,12,16"))
    first = run_search(cfg)
    assert first.interrupted
    assert list(first.trials["status"]) == ["complete", "lost"]
    resumed = run_search(cfg)
    df = resumed.trials
    assert not resumed.interrupted
    assert (df["status"] != "lost").sum() == 4 and len(df) == 5
    assert df.loc[df["status"] == "lost", "lost"].iloc[0] == "interrupted"


def test_stale_running_trial_of_a_dead_process_is_settled(tmp_path):
    cfg = config(tmp_path, budget=2)
    run_search(cfg)
    study = load(cfg)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trial = study.ask()
    import socket

    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": int(dead.stdout), "pid_start": 1})
    result = run_search(config(tmp_path, budget=3))
    df = result.trials
    stale = df[df["number"] == trial.number].iloc[0]
    assert stale["state"] == "FAIL" and stale["status"] == "lost" and stale["lost"].startswith("stale")
    assert (df["status"] != "lost").sum() == 3
    assert Attr.LOST not in load(cfg).get_trials()[0].user_attrs


def test_a_trial_settled_by_another_worker_while_it_runs_is_lost_and_the_search_goes_on(tmp_path, monkeypatch):
    """A live worker whose trial another worker failed as stale (a late heartbeat) must not crash:
    its writes to the finished trial raise UpdateFinishedTrialError, and the trial stays lost."""
    real = nasbox.train.brief.train_model
    cfg = config(tmp_path, budget=3, space_args=dict(TINY, channels="4,8,12,16"))
    settled = []

    def train(*a, **k):
        result = real(*a, **k)
        if not settled:  # another worker fails this trial while it trains
            study = load(cfg)
            running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            assert len(running) == 1
            study._storage.set_trial_state_values(running[0]._trial_id, optuna.trial.TrialState.FAIL)
            settled.append(running[0].number)
        return result

    monkeypatch.setattr(nasbox.evaluate.brief, "train_model", train)
    events = []
    result = run_search(cfg, events.append)
    trials = load(cfg).get_trials()
    assert count_finished(trials) == 3 and len(trials) == 4
    lost = next(t for t in trials if t.number == settled[0])
    assert lost.state == optuna.trial.TrialState.FAIL
    assert "accuracy" not in lost.user_attrs and "status" not in lost.user_attrs  # nothing written after
    row = result.trials.set_index("number").loc[settled[0]]
    assert row["status"] == "lost" and row["lost"].startswith("stale")
    ends = [e for e in events if isinstance(e, TrialEnded)]
    assert [e.status for e in ends].count("lost") == 1


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"lr": 0.05}, "lr=0.1"), ({"iterations": 6}, "iterations=4"), ({"batch_size": 16}, "batch_size=32"),
     ({"iterations": None, "epochs": 1.0}, "epochs=None")],
)
def test_resuming_with_another_fidelity_is_refused_and_untouched(tmp_path, kw, message):
    cfg = config(tmp_path, budget=1)
    run_search(cfg)
    journal = Path(cfg.reports_dir) / "seed_cnn-synthetic" / "journal.log"
    before = journal.read_bytes()
    with pytest.raises(StorageError, match=f"fidelity.*{message}"):
        run_search(config(tmp_path, budget=2, **kw))
    assert journal.read_bytes() == before
    assert len(run_search(config(tmp_path, budget=2)).trials) == 2  # the same fidelity resumes


@pytest.mark.slow  # two searches in processes of their own
def test_two_processes_share_one_study(tmp_path):
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "nasbox.cli", "search", "--dataset", "synthetic", "--iterations", "3",
           "--batch-size", "32", "--budget", "6", "--reports-dir", str(reports), "--device", "cpu",
           "--study", "shared", "--sampler", "random"]
    for key, value in TINY.items():
        cmd += ["--space-arg", f"{key}={value}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    cfg = config(tmp_path)
    study = load(cfg, "shared")
    trials = study.get_trials()
    assert count_finished(trials) == 6
    assert len({t.number for t in trials}) == len(trials)
    pids = {t.user_attrs["worker"]["pid"] for t in trials if t.state.is_finished() and Attr.LOST not in t.user_attrs}
    assert len(pids) == 2  # both workers ran trials


def test_existing_study_with_other_objectives_is_refused_and_untouched(tmp_path):
    cfg = config(tmp_path, budget=2)
    run_search(cfg)
    journal = Path(cfg.reports_dir) / "seed_cnn-synthetic" / "journal.log"
    before = journal.read_bytes()
    with pytest.raises(StorageError, match="objectives"):
        run_search(config(tmp_path, budget=3, objectives=("accuracy", "macs")))
    with pytest.raises(StorageError, match="space_bounds"):
        run_search(config(tmp_path, budget=3, space_args=dict(TINY, channels="4,8,16")))
    assert journal.read_bytes() == before


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"budget": 0}, "budget"),
        ({"objectives": ("accuracy", "speed")}, "unknown objective"),
        ({"sampler": "bayes"}, "--sampler must be one of tpe"),
        ({"epochs": 1.0, "iterations": 5}, "not both"),
        ({"max_macs": -1}, "max-macs"),
        ({"lr": -1.0}, "--lr"),
        ({"lr": float("nan")}, "--lr"),
        ({"heartbeat_s": 0}, "--heartbeat"),
        ({"iterations": 0}, "--iterations"),
        ({"iterations": None, "epochs": -2.0}, "--epochs"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_bad_config_is_refused_before_anything_is_written(tmp_path, kw, message):
    with pytest.raises(ConfigError, match=message):
        run_search(config(tmp_path, **kw))
    assert not (tmp_path / "reports").exists()


@pytest.mark.slow  # 12 s: a search per sampler (tests/search/test_samplers.py covers their seeding)
def test_every_sampler_runs(tmp_path):
    for sampler in ("tpe", "nsga2", "nsga3", "random", "gp"):
        result = run_search(config(tmp_path, sampler=sampler, budget=2, study=f"s-{sampler}"))
        assert len(result.trials) == 2, sampler


def test_early_stopping_stops_dominated_candidates_and_keeps_their_rung(tmp_path, monkeypatch):
    # Every candidate scores alike at its rungs, and the only cost is MACs (exact, unlike a
    # measured latency), so a candidate is dominated at a rung exactly when a peer there is
    # cheaper; eta=100 promotes only the non-dominated, so stops follow from the seeded draws
    # alone and not from how training went on this machine.
    import nasbox.evaluate.brief

    monkeypatch.setattr(nasbox.evaluate.brief, "evaluate", lambda *a, **k: 0.5)
    cfg = config(tmp_path, budget=8, iterations=8, early_stop=True, early_stop_eta=100, sampler="random",
                 objectives=("accuracy", "macs"), space_args=dict(TINY, channels="4,8,12,16"))
    result = run_search(cfg, outputs=write_report)
    df = result.trials
    assert len(df) == 8 and count_finished(load(cfg).get_trials()) == 8
    stopped = df[df["status"] == "stopped"]
    assert len(stopped) >= 1
    assert (stopped["state"] == "PRUNED").all()
    study = load(cfg)
    # the rule by hand: with 4+ peers at a rung, a candidate stops there iff a peer is cheaper
    reached: dict[int, list[float]] = {0: [], 1: []}
    expected = {}
    for t in sorted(study.get_trials(), key=lambda t: t.number):
        for rung, iteration in enumerate((2, 4)):
            peers = list(reached[rung])
            reached[rung].append(t.user_attrs["macs"])
            if len(peers) >= 4 and t.user_attrs["macs"] > min(peers):
                expected[t.number] = iteration
                break
    assert expected and set(stopped["number"]) == set(expected)
    for t in study.get_trials():
        if t.user_attrs.get("status") == "stopped":
            assert t.user_attrs["stopped_at"] == expected[t.number]
            assert t.user_attrs["early_stop"]["iteration"] == t.user_attrs["stopped_at"]
            assert any(k.startswith("rung") for k in t.user_attrs)
    assert not set(result.pareto["number"]) & set(stopped["number"])  # never on the front
    assert (result.report_dir / "index.html").is_file()


def test_prescreening_trains_the_first_non_dominated_of_k_sampler_proposals(tmp_path, monkeypatch):
    import nasbox.measure.proxies
    from nasbox.study.pareto import non_dominated_mask

    real = nasbox.measure.proxies.score_proxies
    scored = []

    def spy(arch, images, names=nasbox.measure.proxies.DEFAULT_PROXIES, seed=0):
        out = real(arch, images, names, seed)
        scored.append((arch.arch_id, out))
        return out

    monkeypatch.setattr(nasbox.search.propose, "score_proxies", spy)
    cfg = config(tmp_path, budget=3, prescreen=4, objectives=("accuracy", "macs"),
                 space_args=dict(TINY, channels="4,8,12,16"))
    result = run_search(cfg)
    trials = load(cfg).get_trials()
    assert len(trials) == 12 and len(scored) == 12 and count_finished(trials) == 3  # 4 proposals per trained trial
    assert (result.trials["status"] == "screened").sum() == 9
    for first in range(0, 12, 4):
        group = trials[first:first + 4]
        assert [t.user_attrs["arch_id"] for t in group] == [a for a, _ in scored[first:first + 4]]
        ranks = nasbox.measure.proxies.mean_proxy_ranks([s for _, s in scored[first:first + 4]])
        front = non_dominated_mask([[r, t.user_attrs["macs"]] for r, t in zip(ranks, group, strict=True)],
                                   ["maximize", "minimize"])
        chosen = [t for t in group if t.user_attrs["prescreen"]["chosen"]]
        assert len(chosen) == 1 and chosen[0].number == group[int(front.argmax())].number  # the first non-dominated
        assert chosen[0].state == optuna.trial.TrialState.COMPLETE and "accuracy" in chosen[0].user_attrs
        for t in group:
            assert t.user_attrs["proxies"] == dict(scored[trials.index(t)][1])
            if t is not chosen[0]:
                assert t.state == optuna.trial.TrialState.FAIL and t.user_attrs["status"] == "screened"
                assert "accuracy" not in t.user_attrs
