"""Tests of nasbox.report.optuna_views: importance per objective, parallel coordinates, timeline by worker."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from nasbox.report.collect import collect
from nasbox.report.optuna_views import importance_figure, optuna_views, timeline_figure


def _study(n: int = 40) -> optuna.Study:
    """accuracy is driven by ``width`` alone, MACs by ``kind`` alone; ``extra`` is conditional (only when
    width > 0.5); every fourth trial is infeasible (scored 0, which must not count); two workers."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("setup", {"objectives": ["accuracy", "macs"]})
    rng = random.Random(0)
    for i in range(n):
        width, kind = rng.random(), rng.choice(["a", "b", "c"])
        params = {"width": width, "kind": kind}
        dists = {"width": FloatDistribution(0, 1), "kind": CategoricalDistribution(["a", "b", "c"])}
        if width > 0.5:
            params["extra"], dists["extra"] = rng.random(), FloatDistribution(0, 1)
        infeasible = i % 4 == 3
        acc = 0.0 if infeasible else 0.5 + 0.4 * width + 0.01 * rng.random()
        macs = {"a": 1e6, "b": 5e6, "c": 9e6}[kind] * (1 + 0.01 * rng.random())
        study.add_trial(create_trial(
            state=TrialState.COMPLETE, values=[acc, macs], params=params, distributions=dists,
            user_attrs={"status": "infeasible" if infeasible else "complete", "accuracy": acc, "macs": macs,
                        "worker": {"host": "node-a" if i % 2 else "node-b", "pid": 100 + i % 2, "pid_start": 1}}))
    return study


def test_importance_per_objective_finds_the_parameter_that_drives_it():
    study = _study()
    views = optuna_views(study, collect(study))
    assert set(views.importances) == {"accuracy", "macs"}
    assert max(views.importances["accuracy"], key=views.importances["accuracy"].get) == "width"
    assert max(views.importances["macs"], key=views.importances["macs"].get) == "kind"
    assert views.conditional == ("extra",)  # not every trained trial has it: named, not scored
    assert all("extra" not in v for v in views.importances.values())
    assert "extra" in views.captions["importance"] and "30 trained" in views.captions["importance"]
    bars = views.figures["importance"]["data"]
    assert [b["name"] for b in bars] == ["accuracy", "macs"] and set(bars[0]["y"]) == {"width", "kind"}


def test_parallel_coordinates_show_the_most_important_parameters_against_accuracy():
    study = _study()
    views = optuna_views(study, collect(study))
    figure = views.figures["parallel"]
    axes = figure["layout"]["xaxis"]["ticktext"]
    assert axes[0] == "accuracy" and set(axes[1:]) == {"width", "kind"}
    lines = [t for t in figure["data"] if t.get("mode") == "lines"]
    assert len(lines) == 30  # one line per trained candidate (not the infeasible ones)
    accuracies = sorted(float(t["customdata"][0][1]) for t in lines)
    trained = sorted(t.values[0] for t in study.trials if t.user_attrs["status"] == "complete")
    assert accuracies == pytest.approx(trained, abs=1e-3)


def test_too_few_trained_trials_say_so_instead_of_drawing():
    study = _study(2)
    views = optuna_views(study, collect(study))
    assert "importance" not in views.figures and "parallel" not in views.figures
    assert "at least 3 trained" in views.captions["importance"]
    assert "timeline" in views.figures


def test_timeline_has_a_row_per_worker_and_every_trial():
    study = _study(10)
    fig = timeline_figure(study)
    rows = {y for trace in fig["data"] for y in trace["y"]}
    assert rows == {"node-a pid 101", "node-b pid 100"}
    numbers = sorted(n for trace in fig["data"] for n in trace["customdata"])
    assert numbers == list(range(10))
    assert {trace["name"].split(" (")[0] for trace in fig["data"]} == {"complete", "infeasible"}


def test_importance_figure_orders_parameters_by_their_total_importance():
    fig = importance_figure({"accuracy": {"a": 0.7, "b": 0.3}, "macs": {"a": 0.1, "b": 0.9}})
    assert fig["data"][0]["y"] == ["a", "b"]  # totals 0.8 < 1.2: the most important ends on top (last)
    assert fig["data"][1]["x"] == [0.1, 0.9]
