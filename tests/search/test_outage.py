"""A real PostgreSQL server stopped and started under running workers, and sixteen workers on one study.

The server is the session's throw-away cluster (tests/conftest.py); stopping it with ``pg_ctl -m fast``
closes every connection, as a restart, a failover or a managed database's maintenance window does.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from nasbox.spaces import get_space
from nasbox.study.schema import count_finished
from search_spaces.nb201 import EDGES
from tests.search.test_scale import ENV, TINY, load

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _search(url: str, study: str, reports, budget: int, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "nasbox.cli", "search", "--storage", url, "--study", study, "--reports-dir",
           str(reports), "--budget", str(budget), "--device", "cpu", "--sampler", "random", "--no-classics",
           "--report-every", "0", *extra]
    return cmd


def _finished(url: str, study: str) -> int:
    try:
        return count_finished(load(url, study).get_trials())
    except Exception:  # not created yet
        return 0


def test_two_workers_ride_out_a_postgres_restart(postgres, tmp_path):
    budget = 10
    extra = ["--dataset", "synthetic", "--iterations", "60", "--batch-size", "32", "--heartbeat", "1"]
    for arg in TINY:
        extra += ["--space-arg", arg]
    cmd = _search(postgres.url, "outage", tmp_path, budget, *extra)
    env = {**ENV, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    try:
        deadline = time.time() + 240
        while _finished(postgres.url, "outage") < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert all(w.poll() is None for w in workers), "the workers ended before the outage"
        postgres.stop("fast")
        time.sleep(8)
        postgres.start()
        outs = [w.communicate(timeout=400) for w in workers]
    finally:
        postgres.start()  # a no-op when it runs (a failed assertion above must not leave it down)
        for w in workers:
            w.kill()
    for w, (_, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err[-2000:]
        assert "Traceback" not in err and "error:" not in err
    assert any("unreachable, retrying for 4m" in err for _, err in outs)  # said once while it waited
    assert any("reachable again" in err for _, err in outs)
    trials = load(postgres.url, "outage").get_trials()
    assert count_finished(trials) == budget
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]


def test_sixteen_workers_on_one_postgres_study_keep_the_budget_exactly(postgres, tmp_path):
    """The table evaluator scores from the genotype alone (nothing is trained or timed): the storage is the load."""
    space = get_space("nb201", input_shape=(3, 32, 32), num_classes=10)  # the synthetic data's default shape
    rows = ["arch,accuracy"]
    for ops in itertools.product(space.ops, repeat=len(EDGES)):
        text = space.arch_string(space.network(dict(zip(EDGES, ops, strict=True))))
        rows.append(f"{text},{50 + 5 * text.count('conv')}")
    table = tmp_path / "nb201.csv"
    table.write_text("\n".join(rows) + "\n")
    budget = 96
    cmd = _search(postgres.url, "sixteen", tmp_path, budget, "--space", "nb201", "--dataset", "synthetic",
                  "--evaluator", f"table:{table}", "--objectives", "accuracy,macs,params")
    env = {**ENV, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(16)]
    outs = [w.communicate(timeout=900) for w in workers]
    for w, (_, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err[-2000:]
        assert "Traceback" not in err and "error" not in err.lower()
    trials = load(postgres.url, "sixteen").get_trials()
    assert count_finished(trials) == budget
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    hosts = {(t.user_attrs["worker"]["pid"]) for t in trials if "worker" in t.user_attrs}
    assert len(hosts) >= 8  # the work was shared
