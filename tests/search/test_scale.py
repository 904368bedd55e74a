"""Scale-out and crash safety: several workers on PostgreSQL, SIGKILL on the journal (a worker lost on
another machine: tests/search/test_faults.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nasbox.study.schema import Attr, count_finished
from nasbox.study.storage import mask_url, open_storage

TINY = ["channels=4,8,12", "kernels=3", "n_max=1", "m_max=4", "l_max=0", "heads=gap", "activations=relu,silu"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def search_cmd(*extra: str, iterations: int = 3, budget: int = 9) -> list[str]:
    cmd = [sys.executable, "-m", "nasbox.cli", "search", "--dataset", "synthetic", "--iterations", str(iterations),
           "--batch-size", "32", "--budget", str(budget), "--device", "cpu", "--sampler", "random"]
    for arg in TINY:
        cmd += ["--space-arg", arg]
    return cmd + list(extra)


def load(url: str, name: str) -> optuna.Study:
    storage, _ = open_storage(url, Path("unused"))
    return optuna.load_study(study_name=name, storage=storage)


def wait_all(procs: list[subprocess.Popen], timeout: float = 300) -> list[tuple[str, str]]:
    return [p.communicate(timeout=timeout) for p in procs]


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_share_a_postgres_study_exactly(postgres_url, tmp_path):
    cmd = search_cmd("--storage", postgres_url, "--study", "three", "--reports-dir", str(tmp_path), budget=9)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for _ in range(3)]
    outs = wait_all(procs)
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        # the password never shows in what a worker prints
        assert "s3cret-pw" not in out + err and mask_url(postgres_url) in out
    trials = load(postgres_url, "three").get_trials()
    counted = [t for t in trials if t.state.is_finished() and Attr.LOST not in t.user_attrs]
    assert count_finished(trials) == 9 == len(counted)
    assert len({t.number for t in trials}) == len(trials)
    workers = {t.number: (t.user_attrs["worker"]["host"], t.user_attrs["worker"]["pid"]) for t in counted}
    assert len(set(workers.values())) >= 2  # the work was shared
    assert all("device" in t.user_attrs for t in counted)
    # nothing written under the report folder carries the password
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cret-pw" not in path.read_bytes(), path


@pytest.mark.slow
@pytest.mark.postgres
def test_bad_storage_input_is_one_line_exit_2(postgres_url, tmp_path):
    wrong = postgres_url.replace("s3cret-pw", "wrong-pw")
    proc = subprocess.run(search_cmd("--storage", wrong, "--reports-dir", str(tmp_path), budget=1),
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "wrong-pw" not in proc.stderr and "***" in proc.stderr
    # a wrong password is refused at once (no retries): it would not pass
    assert proc.returncode == 2 and "unreachable" not in proc.stderr
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    unreachable = postgres_url.replace(f":{port}/", ":9/")
    proc = subprocess.run(search_cmd("--storage", unreachable, "--reports-dir", str(tmp_path), "--storage-retry", "1",
                                     budget=1), capture_output=True, text=True, env=ENV)
    waiting, error = proc.stderr.splitlines()  # one line while it retries, one when it gives up
    assert proc.returncode == 2 and "unreachable, retrying for 1s" in waiting and error.startswith("error: "), proc.stderr
    assert "unreachable for 1s" in error and "***" in error
    # an existing study with other objectives is refused and left as it was
    cmd = search_cmd("--storage", postgres_url, "--study", "objectives", "--reports-dir", str(tmp_path), budget=1)
    assert subprocess.run(cmd, capture_output=True, env=ENV).returncode == 0
    before = [(t.number, t.state, t.values) for t in load(postgres_url, "objectives").get_trials()]
    proc = subprocess.run(cmd + ["--objectives", "accuracy,params"], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and "objectives" in proc.stderr and proc.stderr.count("\n") == 1
    assert [(t.number, t.state, t.values) for t in load(postgres_url, "objectives").get_trials()] == before


def test_storage_url_from_the_environment(tmp_path, monkeypatch):
    from nasbox.search import SearchConfig, run_search

    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("NASBOX_STORAGE", url)
    result = run_search(SearchConfig(dataset="synthetic", dataset_options={"synthetic_shape": (3, 16, 16),
                                     "synthetic_size": 300}, iterations=2, batch_size=32, budget=2, device="cpu",
                                     reports_dir=str(tmp_path / "r"),
                                     space_args={"channels": "4", "kernels": "3", "n_max": "1", "l_max": "0"}))
    assert result.storage == url and len(load(url, result.study_name).get_trials()) == 2


def test_mask_url():
    assert mask_url("postgresql://u:p%40ss@host:5432/db") == "postgresql://u:***@host:5432/db"
    assert mask_url("postgresql://u@host/db") == "postgresql://u@host/db"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.slow
def test_sigkill_at_random_moments_on_the_journal_storage(tmp_path):
    """Kill a one-process search several times; rerunning it still ends at exactly the budget."""
    budget = 6
    cmd = search_cmd("--reports-dir", str(tmp_path), "--study", "crash", iterations=25, budget=budget)
    rng = random.Random(0)
    completed_seen: set[int] = set()
    journal = tmp_path / "crash" / "journal.log"
    for _ in range(4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        time.sleep(rng.uniform(2.0, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if journal.exists():
            study = _journal_study(journal)
            done = {t.number for t in study.get_trials(states=(TrialState.COMPLETE,))}
            assert completed_seen <= done  # no completed trial is ever lost
            completed_seen |= done
    final = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    trials = _journal_study(journal).get_trials()
    assert count_finished(trials) == budget
    assert completed_seen <= {t.number for t in trials if t.state == TrialState.COMPLETE}
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert (tmp_path / "crash" / "trials.csv").is_file()


def _journal_study(journal: Path) -> optuna.Study:
    storage, _ = open_storage(None, journal.parent)
    return optuna.load_study(study_name=journal.parent.name, storage=storage)


@pytest.mark.slow  # --workers 2: two processes, each importing torch and loading the data
def test_workers_option_runs_several_processes_on_one_study(tmp_path):
    proc = subprocess.run(search_cmd("--reports-dir", str(tmp_path), "--study", "multi", "--workers", "2", budget=6),
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "worker 1: pid" in proc.stdout and "Pareto-optimal" in proc.stdout
    trials = _journal_study(tmp_path / "multi" / "journal.log").get_trials()
    assert count_finished(trials) == 6
    counted = [t for t in trials if t.state.is_finished() and Attr.LOST not in t.user_attrs]
    assert len({t.user_attrs["worker"]["pid"] for t in counted}) == 2
    # the final tables cover the whole study, written after every worker ended
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "multi" / "trials.csv")) == len(trials)
