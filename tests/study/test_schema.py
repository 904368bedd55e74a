"""Tests of nasbox.study.schema: the trial-status rule, the budget it gives, lost reasons, paths."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nasbox.study.schema import Attr, count_finished, counts_toward_budget, lost_reason, trial_status
from nasbox.study.storage import open_storage


def frozen(state: TrialState, **attrs):
    values = [0.5] if state == TrialState.COMPLETE else None
    return create_trial(state=state, values=values, user_attrs=attrs)


@pytest.mark.parametrize(
    ("state", "attrs", "status"),
    [
        (TrialState.COMPLETE, {"status": "complete"}, "complete"),
        (TrialState.COMPLETE, {"status": "repeat"}, "repeat"),
        (TrialState.COMPLETE, {"status": "infeasible"}, "infeasible"),
        (TrialState.COMPLETE, {}, "complete"),  # a study written by plain Optuna
        (TrialState.PRUNED, {"status": "stopped"}, "stopped"),
        (TrialState.PRUNED, {}, "failed"),  # pruned by something other than nasbox's early stopping
        (TrialState.FAIL, {"status": "failed", "fail_reason": "TrainingError: NaN"}, "failed"),
        (TrialState.FAIL, {"status": "screened"}, "screened"),
        # failed by Optuna's heartbeat check: only the state was written
        (TrialState.FAIL, {}, "lost"),
        (TrialState.FAIL, {"arch_id": "abc", "accuracy": 0.9}, "lost"),
        # killed between recording its result and telling it: the recorded status is not the outcome
        (TrialState.FAIL, {"status": "complete", "accuracy": 0.9}, "lost"),
        (TrialState.FAIL, {"status": "stopped"}, "lost"),
        (TrialState.FAIL, {"status": "failed", Attr.LOST: "interrupted"}, "lost"),
        (TrialState.FAIL, {Attr.LOST: "surplus: the budget was reached by other workers"}, "lost"),
    ],
)
def test_the_status_is_decided_from_the_state_and_what_the_worker_recorded(state, attrs, status):
    trial = frozen(state, **attrs)
    assert trial_status(trial) == status
    assert counts_toward_budget(trial) == (status in ("complete", "repeat", "infeasible", "stopped", "failed"))
    assert (lost_reason(trial) is not None) == (status == "lost")


def test_a_running_trial_is_running_whatever_it_recorded(tmp_path):
    study = optuna.create_study(storage=open_storage(None, tmp_path)[0])
    trial = study.ask()
    trial.set_user_attr("status", "complete")  # written just before tell
    frozen_trial = study.get_trials()[0]
    assert trial_status(frozen_trial) == "running" and not counts_toward_budget(frozen_trial)
    assert count_finished(study.get_trials()) == 0


def test_lost_reason_names_what_settled_the_trial():
    assert lost_reason(frozen(TrialState.FAIL, **{Attr.LOST: "interrupted"})) == "interrupted"
    assert "stale" in lost_reason(frozen(TrialState.FAIL))
    assert lost_reason(frozen(TrialState.COMPLETE, status="complete")) is None
