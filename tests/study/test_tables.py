"""Tests of nasbox.study.tables: every trial as a row (status by the one rule), and the Pareto set
checked against an independent non-dominated sort."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial

from nasbox.study.schema import Attr
from nasbox.study.tables import TRIAL_COLUMNS, best_trials, pareto_numbers, trials_dataframe, write_study_tables

DIRS = ["maximize", "minimize"]


def _study() -> optuna.Study:
    study = optuna.create_study(directions=DIRS)
    rows = [(0.9, 100, "complete", "aa"), (0.8, 50, "complete", "bb"), (0.85, 200, "complete", "cc"),
            (0.9, 100, "repeat", "aa"), (0.95, 300, "complete", "dd"), (0.0, 10, "infeasible", "ee")]
    for acc, macs, status, arch_id in rows:
        study.add_trial(create_trial(values=[acc, macs], user_attrs={
            Attr.STATUS: status, Attr.ACCURACY: acc, Attr.MACS: macs, Attr.ARCH_ID: arch_id, Attr.EVALUATOR: "brief",
            Attr.WORKER: {"host": "h", "pid": 7}, Attr.FIDELITY: {"batch_size": 16}}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={Attr.STATUS: "complete", Attr.ACCURACY: 0.99}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={Attr.STATUS: "failed", Attr.FAIL_REASON: "NaN"}))
    return study


def test_every_trial_is_a_row_with_its_status_by_the_one_rule():
    df = trials_dataframe(_study()).set_index("number")
    assert set(TRIAL_COLUMNS) <= set(df.reset_index().columns)
    assert list(df["status"]) == ["complete", "complete", "complete", "repeat", "complete", "infeasible", "lost",
                                  "failed"]
    assert df.loc[6, "lost"].startswith("stale") and pd.isna(df.loc[7, "lost"]) and df.loc[7, "fail_reason"] == "NaN"
    assert df.loc[0, "evaluator"] == "brief" and df.loc[0, "batch_size"] == 16 and df.loc[0, "host"] == "h"


def test_the_pareto_set_is_the_trained_non_dominated_one_per_genotype_best_first():
    study = _study()
    trained = [t for t in study.trials if t.state == TrialState.COMPLETE and t.user_attrs[Attr.STATUS] != "infeasible"]
    front = []
    for t in trained:  # independent: t is kept when no other trial is at least as good in both and better in one
        dominated = any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
                        for o in trained)
        if not dominated:
            front.append(t)
    first = {}
    for t in sorted(front, key=lambda t: t.number):
        first.setdefault(t.user_attrs[Attr.ARCH_ID], t)
    expected = [t.number for t in sorted(first.values(), key=lambda t: (-t.values[0], t.number))]
    assert list(pareto_numbers(study)) == expected == [4, 0, 1]


def test_write_study_tables_writes_both_csvs(tmp_path):
    df, pareto, files = write_study_tables(_study(), tmp_path)
    assert [p.name for p in files] == ["trials.csv", "pareto.csv"]
    assert len(pd.read_csv(files[0])) == len(df) == 8
    assert list(pd.read_csv(files[1])["number"]) == list(pareto["number"]) == [4, 0, 1]


@pytest.mark.parametrize("constrained", [False, True])
def test_best_trials_are_optunas_best_trials(constrained):
    """The front without Optuna's deep copy is Optuna's front: random 3-objective trials with ties,
    failed and running trials, and (constrained) some infeasible ones."""
    rng = np.random.default_rng(int(constrained))
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for i in range(300):
        values = [float(rng.integers(0, 20)) / 20, float(rng.integers(1, 30)), float(rng.integers(1, 30))]
        if i % 23 == 0:
            values[2] = float("inf")  # a metric not measured (nasbox records inf for it)
        system = {"constraints": [float(rng.choice([-1.0, 0.0, 0.5]))]} if constrained else {}
        state = TrialState.COMPLETE if i % 17 else TrialState.FAIL
        study.add_trial(optuna.trial.create_trial(values=values if state == TrialState.COMPLETE else None,
                                                  state=state, system_attrs=system))
    study.ask()  # a running trial
    ours = sorted(t.number for t in best_trials(study))
    assert ours == sorted(t.number for t in study.best_trials) and len(ours) >= 3
