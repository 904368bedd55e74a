"""Tests of nasbox.study.rdb: storage calls retried through a database outage, and attributes written together.

The outage is injected where the database driver raises it (an ``OperationalError`` of the DBAPI from
SQLAlchemy's cursor, on a real SQLite database), so that SQLAlchemy and Optuna wrap it as they would a lost
PostgreSQL connection; tests/search/test_outage.py stops a real PostgreSQL server under running workers.
"""

from __future__ import annotations

import logging
import sqlite3
import time

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import event

from nasbox.errors import StorageError
from nasbox.study.rdb import ResilientRDBStorage, connection_lost, fmt_wait
from nasbox.study.storage import fail_stale_trials, open_storage, set_attrs


class Outage:
    """Makes the next ``calls`` statements fail as a lost connection would (or with ``message``)."""

    def __init__(self, storage: ResilientRDBStorage, calls: int, message: str = "unable to open database file",
                 after: bool = False) -> None:
        self.left, self.message, self.seen = calls, message, 0
        hook = "after_cursor_execute" if after else "before_cursor_execute"
        event.listen(storage.engine, hook, self)

    def __call__(self, conn, cursor, statement, params, context, executemany) -> None:
        self.seen += 1
        if self.left > 0:
            self.left -= 1
            raise sqlite3.OperationalError(self.message)


def storage(tmp_path, retry_s: float = 30.0, heartbeat_s: int | None = None) -> ResilientRDBStorage:
    found, _ = open_storage(f"sqlite:///{tmp_path / 'study.db'}", tmp_path, heartbeat_s=heartbeat_s or 30,
                            retry_s=retry_s)
    assert isinstance(found, ResilientRDBStorage)
    return found


def test_a_call_is_retried_through_an_outage_and_says_so_once(tmp_path, caplog):
    s = storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=s)
    outage = Outage(s, calls=3)
    with caplog.at_level(logging.WARNING, logger="nasbox.study.rdb"):
        trial = study.ask()
    assert outage.left == 0 and trial.number == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "unreachable, retrying for 30s" in lines[0] and "reachable again" in lines[1]
    assert s.recovered_at is not None and time.monotonic() - s.recovered_at < 5


def test_an_outage_longer_than_the_retry_time_is_one_line(tmp_path):
    s = storage(tmp_path, retry_s=0.6)
    study = optuna.create_study(study_name="s", storage=s)
    Outage(s, calls=10**6)
    t0 = time.monotonic()
    with pytest.raises(StorageError) as caught:
        study.ask()
    assert 0.5 < time.monotonic() - t0 < 5
    text = str(caught.value)
    assert "\n" not in text and "unreachable for 1s" in text and "run the same command again" in text


def test_a_lasting_refusal_is_not_retried(tmp_path):
    s = storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=s)
    outage = Outage(s, calls=1, message='password authentication failed for user "nasbox"')
    t0 = time.monotonic()
    with pytest.raises(optuna.exceptions.StorageInternalError):
        study.ask()
    assert time.monotonic() - t0 < 1 and outage.seen == 1


def test_a_state_change_whose_commit_landed_before_the_connection_dropped_counts_as_done(tmp_path, monkeypatch):
    from sqlalchemy import exc as sa

    from nasbox.study.own_trials import OwnTrials

    s = storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=s)
    trial = study.ask()
    real = OwnTrials.set_trial_state_values  # what the retried call runs (the own-trial layer, then Optuna's)
    calls = []

    def commit_then_drop(self, trial_id, state, values=None):
        done = real(self, trial_id, state, values)  # committed ...
        calls.append(done)
        if len(calls) == 1:  # ... and the answer lost with the connection
            lost = sqlite3.OperationalError("server closed the connection unexpectedly")
            raise optuna.exceptions.StorageInternalError("commit") from sa.OperationalError("COMMIT", {}, lost)
        return done

    monkeypatch.setattr(OwnTrials, "set_trial_state_values", commit_then_drop)
    study.tell(trial, 1.0)  # the retry finds the trial finished, in the state it asked for: done
    (t,) = study.get_trials()
    assert len(calls) == 1 and t.state == TrialState.COMPLETE and t.value == 1.0
    other = study.ask()
    monkeypatch.setattr(OwnTrials, "set_trial_state_values", real)
    study.tell(other, state=TrialState.FAIL)  # finished by another worker meanwhile ...
    with pytest.raises(RuntimeError):  # ... a tell that was never cut off still fails as Optuna's would
        s.set_trial_state_values(other._trial_id, TrialState.COMPLETE, [1.0])


def test_attributes_are_written_in_one_statement(tmp_path):
    s = storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=s)
    trial = study.ask()
    statements: list[str] = []
    event.listen(s.engine, "before_cursor_execute", lambda c, cur, stmt, *a: statements.append(stmt))
    attrs = {f"metric{i}": i * 0.5 for i in range(12)} | {"status": "complete", "nested": {"a": [1, 2]}}
    set_attrs(trial, attrs)
    writes = [x for x in statements if x.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 1 and "trial_user_attributes" in writes[0]
    assert study.get_trials()[0].user_attrs == attrs == {k: trial.user_attrs[k] for k in attrs}
    set_attrs(trial, {"status": "failed"})  # an upsert: written again
    assert study.get_trials()[0].user_attrs["status"] == "failed"
    study.tell(trial, 0.5)
    with pytest.raises(RuntimeError):  # a finished trial is not written to
        set_attrs(trial, {"late": 1})


def test_after_an_outage_no_trial_is_failed_for_heartbeats_that_could_not_be_written(tmp_path):
    s = storage(tmp_path, heartbeat_s=1)
    study = optuna.create_study(study_name="s", storage=s)
    trial = study.ask()
    s.record_heartbeat(trial._trial_id)
    time.sleep(4.5)  # silent past the grace period of 3 beats (SQLite counts whole seconds): the database was away
    Outage(s, calls=1)
    study.get_trials()  # a read that meets the outage and is retried: it ends it
    fail_stale_trials(study)
    assert study.get_trials()[0].state == TrialState.RUNNING  # its worker beats again first
    s.recovered_at -= 3.1  # a grace period later, a silent trial is stale again
    fail_stale_trials(study)
    assert study.get_trials()[0].state == TrialState.FAIL


def test_connection_lost_tells_passing_errors_from_lasting_ones():
    from sqlalchemy import exc as sa

    def wrapped(message: str, sqlstate: str | None = None) -> Exception:
        """As Optuna raises it: a StorageInternalError from SQLAlchemy's OperationalError of the driver's."""
        orig = Exception(message)
        orig.sqlstate = sqlstate  # type: ignore[attr-defined]
        outer = optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
        outer.__cause__ = sa.OperationalError("select 1", {}, orig)
        return outer

    assert connection_lost(wrapped("connection refused"))
    assert connection_lost(wrapped("terminating connection due to administrator command", "57P01"))
    assert connection_lost(wrapped("the database system is starting up", "57P03"))
    assert not connection_lost(wrapped('password authentication failed for user "x"', "28P01"))
    assert not connection_lost(wrapped('database "nope" does not exist', "3D000"))
    assert not connection_lost(ValueError("no database at all"))
    assert fmt_wait(240) == "4m" and fmt_wait(90) == "1m30s" and fmt_wait(8) == "8s"
