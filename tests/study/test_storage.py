"""Tests of nasbox.study.storage: heartbeats, and settling the trials of dead workers."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from nasbox.study.schema import Attr, trial_status
from nasbox.study.storage import Heartbeat, fail_stale_trials, open_storage, settle_stale_trials, worker_identity


def rdb_study(tmp_path, heartbeat_s: int = 1) -> optuna.Study:
    storage, _ = open_storage(f"sqlite:///{tmp_path / 'hb.db'}", tmp_path, heartbeat_s=heartbeat_s)
    return optuna.create_study(study_name="hb", storage=storage)


def test_a_heartbeat_stale_trial_is_failed_without_error_and_known_as_lost(tmp_path):
    """Optuna fails a stale trial before it would call a callback; nothing may write to it after."""
    study = rdb_study(tmp_path)
    with Heartbeat(study) as beat:
        dead = study.ask()
        beat.hold(dead)
        dead.set_user_attr("status", "complete")  # what a worker killed just before tell had written
        beat.release(dead)  # its worker dies: no more beats
        alive = study.ask()
        beat.hold(alive)
        time.sleep(4.5)  # past the grace period of 3 heartbeats of 1 s
        fail_stale_trials(study)  # raised UpdateFinishedTrialError when a callback wrote to the failed trial
        by_number = {t.number: t for t in study.get_trials()}
        assert by_number[dead.number].state == TrialState.FAIL
        assert trial_status(by_number[dead.number]) == "lost"
        assert by_number[dead.number].user_attrs == {"status": "complete"}  # nothing written after it failed
        # the held trial kept beating and is still running
        assert by_number[alive.number].state == TrialState.RUNNING
        study.tell(alive, [1.0])
        beat.release(alive)


def test_settle_fails_trials_whose_worker_never_recorded_itself_or_whose_process_is_gone(tmp_path):
    study = optuna.create_study(storage=open_storage(None, tmp_path)[0])
    unclaimed = study.ask()  # its worker died right after asking
    gone = study.ask()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone.set_user_attr("worker", {"host": socket.gethostname(), "pid": child.pid, "pid_start": None})
    mine = study.ask()
    mine.set_user_attr("worker", worker_identity())
    elsewhere = study.ask()
    elsewhere.set_user_attr("worker", {"host": "another-machine", "pid": 1, "pid_start": None})

    with Heartbeat(study) as beat:  # a search of this process holds "mine"
        beat.hold(mine)
        assert settle_stale_trials(study, grace_s=60.0) == [gone.number]  # the unclaimed one is still young
        time.sleep(0.3)
        assert settle_stale_trials(study, grace_s=0.2) == [unclaimed.number]
        by_number = {t.number: t for t in study.get_trials()}
    unclaimed_now, gone_now = by_number[unclaimed.number], by_number[gone.number]
    assert trial_status(unclaimed_now) == "lost" and "before recording" in unclaimed_now.user_attrs[Attr.LOST]
    assert trial_status(gone_now) == "lost" and "process ended" in gone_now.user_attrs[Attr.LOST]
    # a live worker's trial and another host's are left to their workers and to heartbeats
    assert by_number[mine.number].state == by_number[elsewhere.number].state == TrialState.RUNNING
    # once no search of this process holds it (it stopped for a full disk, say), this process's own trial is stale
    assert settle_stale_trials(study, grace_s=60.0) == [mine.number]
    assert "in this process ended" in study.trials[mine.number].user_attrs[Attr.LOST]


def test_worker_identity_tells_pid_reuse_apart():
    me = worker_identity()
    assert me["host"] == socket.gethostname() and me["pid"] == os.getpid()
    from nasbox.study.storage import process_alive

    assert process_alive(me["pid"], me["pid_start"])
    if me["pid_start"] is not None:
        assert not process_alive(me["pid"], me["pid_start"] + 1)


def test_settling_an_old_unclaimed_trial_uses_its_start_time(tmp_path):
    study = optuna.create_study(storage=open_storage(None, tmp_path)[0])
    trial = study.ask()
    started = study.get_trials()[0].datetime_start
    age = (datetime.datetime.now() - started).total_seconds()
    assert age < 5
    assert settle_stale_trials(study, grace_s=age + 30) == []
    assert study.get_trials()[0].state == TrialState.RUNNING
    study.tell(trial, [0.0])
