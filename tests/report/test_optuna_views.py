"""Tests of nasbox.report.optuna_views: importance per objective, parallel coordinates, timeline by worker."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from nasbox.report.collect import collect
from nasbox.report.optuna_views import importance_figure, optuna_views, timeline_figure
from nasbox.spaces import get_space


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


class _Space:
    """A space whose ``width`` does not apply when ``kind`` is ``a``."""

    def applies(self, params):
        return {p for p in params if not (p == "width" and params.get("kind") == "a")}


def test_a_parameter_that_does_not_apply_to_every_trial_is_named_not_scored():
    study = _study()
    views = optuna_views(study, collect(study), _Space())
    assert set(views.conditional) == {"extra", "width"}
    assert all(set(v) == {"kind"} for v in views.importances.values())
    assert "width" in views.captions["importance"]


def test_builtin_spaces_say_which_parameters_shape_the_genotype():
    """A parameter a space says does not apply can take any value without changing the genotype (checked by
    replaying the space), and the spaces that sample unused stages do leave some out."""
    for name in ("seed_cnn", "resnet", "mobilenet", "efficientnet"):
        space = get_space(name, input_shape=(3, 32, 32), num_classes=10)
        dropped = 0
        for seed in range(15):
            params, arch = space.sample_random(random.Random(seed))
            kinds = space.parameters()
            for p in set(params) - space.applies(params):
                dropped += 1
                kind, choices = kinds[p]
                for other in (choices if kind == "categorical" else range(choices[0], choices[1] + 1, choices[2])):
                    assert space.from_params({**params, p: other}).arch_id == arch.arch_id, (name, p, other)
        assert dropped > 0 if name in ("seed_cnn", "resnet") else dropped == 0, name


def test_an_objective_with_one_value_gets_no_importance():
    """PED-ANOVA would split a constant objective's 'importance' evenly: made-up numbers, so it is left out."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("setup", {"objectives": ["accuracy", "macs"]})
    rng = random.Random(1)
    for _ in range(12):
        width = rng.random()
        study.add_trial(create_trial(values=[width, 5.0], params={"width": width, "kind": rng.choice("ab")},
                                     distributions={"width": FloatDistribution(0, 1),
                                                    "kind": CategoricalDistribution(["a", "b"])},
                                     user_attrs={"status": "complete"}))
    views = optuna_views(study, collect(study))
    assert set(views.importances) == {"accuracy"}
    assert "Not shown for macs" in views.captions["importance"]
