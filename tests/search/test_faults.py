"""A lost machine: three workers share a PostgreSQL study and one of them dies at a chosen moment.

The victim runs in its own PID and UTS namespaces (``unshare``) under another host name, so the
survivors cannot see its process: as with a worker on another machine, only what the study
records -- its heartbeats, or the absence of any record of its worker -- can settle its trial.
The victim stops at the moment under test (``tests/search/fault_worker.py``) and is killed with
SIGKILL there; the test then checks that the two survivors exit 0 with no traceback, that the
study counts exactly the budget with nothing left RUNNING, that no trial finished before the
kill was changed after it, and that the victim's trial is lost, for the reason the moment implies.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from nasbox.study.schema import Attr, count_finished, trial_status
from nasbox.study.storage import open_storage

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 9
TINY = ["channels=4,8,12", "kernels=3", "n_max=1", "m_max=4", "l_max=0", "heads=gap", "activations=relu,silu"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
VICTIM_HOST = "lost-machine"


def search_args(url: str, study: str, reports: Path) -> list[str]:
    args = ["search", "--dataset", "synthetic", "--iterations", "30", "--batch-size", "32", "--budget", str(BUDGET),
            "--device", "cpu", "--sampler", "random", "--storage", url, "--study", study, "--reports-dir",
            str(reports), "--heartbeat", "1"]
    for arg in TINY:
        args += ["--space-arg", arg]
    return args


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "--uts", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


def snapshot(study: optuna.Study) -> dict[int, tuple]:
    """The finished trials, as what a later writer could change: state, values, attributes, end time."""
    return {t.number: (t.state, t.values, t.user_attrs, t.datetime_complete)
            for t in study.get_trials() if t.state.is_finished()}


MOMENTS = ["before-first-trial", "asked", "mid-training", "before-tell", "writing-report"]


@pytest.mark.parametrize("moment", MOMENTS)
def test_survivors_finish_the_budget_when_a_worker_on_another_machine_dies(postgres_url, tmp_path, moment):
    if not _unshare_works():
        pytest.skip("needs unshare with PID and UTS namespaces (root) to give the victim a machine of its own")
    study_name = f"lost-{moment}"
    reports, marker = tmp_path / "reports", tmp_path / "marker.json"
    args = search_args(postgres_url, study_name, reports)
    victim_cmd = ["unshare", "--pid", "--fork", "--uts", "--mount-proc", "--kill-child", "sh", "-c",
                  f'hostname {VICTIM_HOST} && exec "$0" "$@"', sys.executable, str(ROOT / "tests" / "search" / "fault_worker.py"),
                  moment, str(marker), *args]
    victim = subprocess.Popen(victim_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV,
                              start_new_session=True)
    survivors = [subprocess.Popen([sys.executable, "-m", "nasbox.cli", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=ENV) for _ in range(2)]
    try:
        deadline = time.time() + 240
        while not marker.exists() and time.time() < deadline and victim.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), f"the victim never reached {moment!r}: {victim.communicate()[0][-3000:]!r}"
        time.sleep(0.2)  # the marker is written, the victim is waiting in the moment
        info = json.loads(marker.read_text())
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        storage, _ = open_storage(postgres_url, tmp_path)
        study = optuna.load_study(study_name=study_name, storage=storage)
        before = snapshot(study)
        if moment == "writing-report":
            assert Path(info["tmp"]).is_file()  # killed with its page half written beside the real one
        outs = [p.communicate(timeout=300) for p in survivors]
    finally:
        for p in [victim, *survivors]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL) if p is victim else p.kill()

    for p, (out, err) in zip(survivors, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in out + err and "Error" not in err, err[-3000:]
    trials = study.get_trials()
    assert count_finished(trials) == BUDGET
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    after = snapshot(study)
    for number, was in before.items():
        assert after[number] == was, f"trial {number} was changed after it finished"

    victims = [t for t in trials if (t.user_attrs.get("worker") or {}).get("host") == VICTIM_HOST]
    lost = [t for t in trials if trial_status(t) == "lost"]
    if moment in ("before-first-trial", "writing-report"):
        # nothing of the victim was left running: the only lost trials are surpluses (a worker that
        # asked when the others already held the rest of the budget), never a stale one
        assert all(t.user_attrs.get(Attr.LOST, "").startswith("surplus") for t in lost), \
            [(t.number, t.user_attrs.get(Attr.LOST)) for t in lost]
        if moment == "before-first-trial":
            assert not victims
    else:
        dead = next(t for t in trials if t.number == info["trial"]) if "trial" in info else \
            next(t for t in victims if t.state == TrialState.FAIL and trial_status(t) == "lost")
        assert dead.state == TrialState.FAIL and trial_status(dead) == "lost"
        if moment == "asked":  # no heartbeat and no worker: settled by its age alone
            assert "worker" not in dead.user_attrs and "before recording itself" in dead.user_attrs[Attr.LOST]
        else:  # settled by the heartbeat check, which writes nothing but the state
            assert dead.user_attrs["worker"]["host"] == VICTIM_HOST and Attr.LOST not in dead.user_attrs
        if moment == "before-tell":
            # the victim held its result (written behind, with the tell, in one transaction), so
            # nothing of it reached the study: no half-recorded trial, and it does not count
            assert info["attrs"]["status"] == "complete"
            assert "status" not in dead.user_attrs and dead.values is None
        # the report and trials.csv show it as lost
        folder = reports / study_name
        table = pd.read_csv(folder / "trials.csv").set_index("number")
        assert len(table) == len(trials) and table.loc[dead.number, "status"] == "lost"
        assert str(table.loc[dead.number, "lost"]).startswith("stale")
        page = (folder / "index.html").read_text()
        assert page.rstrip().endswith("</html>") and f"#{dead.number}" in page
    folder = reports / study_name
    assert (folder / "index.html").read_text().rstrip().endswith("</html>")
    assert len(pd.read_csv(folder / "trials.csv")) == len(trials)
