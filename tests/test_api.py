"""Tests of nasbox's Python surface (nasbox/__init__.py, nasbox.api, SearchResult, Analysis in a notebook)."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nasbox
import nasbox.measure
import nasbox.search.costs
import nasbox.zoo.latency
from nasbox.errors import ConfigError, NasboxError, ShapeError, SpaceError
from nasbox.model.analysis import analyze
from nasbox.study.result import SearchResult, knee_index
from nasbox.zoo import ZOO_NAMES, get_zoo

ROOT = Path(__file__).resolve().parent.parent
TINY_SPACE = {"channels": "4,8", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap"}
TINY = {"space_args": TINY_SPACE, "dataset": "synthetic", "dataset_options": {"synthetic_shape": (3, 16, 16),
        "synthetic_size": 200}, "iterations": 2, "batch_size": 16, "sampler": "random", "classics": False,
        "report_every": 0, "study": "api"}


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, SearchResult]:
    """A tiny search on synthetic data, through ``nasbox.search`` (latency timed briefly)."""
    reports = tmp_path_factory.mktemp("api") / "reports"
    fast = functools.partial(nasbox.measure.measure_latency, min_runs=5, max_runs=20, budget_s=0.05, max_warmup_s=0.3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nasbox.search.costs, "measure_latency", fast)
        result = nasbox.search("seed_cnn", budget=4, reports_dir=str(reports), **TINY)
    return reports, result


def test_import_nasbox_is_light_and_its_names_load_on_use():
    code = ("import sys, nasbox\n"
            "heavy = [m for m in ('torch', 'optuna', 'pandas', 'matplotlib', 'nasbox.search') if m in sys.modules]\n"
            "print(heavy, sorted(set(nasbox.__all__) - set(dir(nasbox))), nasbox.list_models('VGG*'),\n"
            "      nasbox.Architecture.__module__, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "[] [] ['vgg11', 'vgg16'] nasbox.model.arch False"


def test_nasbox_search_stays_callable_after_its_first_call_in_a_fresh_process(searched):
    """The first call imports the package ``nasbox.search``, which sets the attribute ``nasbox.search`` to the
    package: the package itself is callable, so a notebook's second call works (a fresh process: nothing imported
    the package before the first call)."""
    reports, _ = searched
    code = ("import sys, nasbox\n"
            "from nasbox.errors import SpaceError\n"
            "assert 'nasbox.search' not in sys.modules\n"
            "try:\n"
            "    nasbox.search('nosuch', budget=1)\n"
            "except SpaceError as exc:\n"
            "    print('first call:', type(exc).__name__)\n"
            "print(callable(nasbox.search), nasbox.search is sys.modules['nasbox.search'])\n"
            f"result = nasbox.search('seed_cnn', budget=4, reports_dir={str(reports)!r}, **{TINY!r})\n"
            "print(type(result).__name__, len(result.trials))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[-3:] == ["first call: SpaceError", "True True", "SearchResult 4"]


def test_nasbox_search_called_twice_in_one_process(searched):
    reports, first = searched
    with pytest.raises(SpaceError, match="unknown space 'nosuch'"):
        nasbox.search("nosuch", budget=1)
    assert callable(nasbox.search) and nasbox.search is sys.modules["nasbox.search"]
    again = nasbox.search("seed_cnn", budget=4, reports_dir=str(reports), **TINY)  # resumed: its budget is met
    assert isinstance(again, SearchResult) and list(again.trials["number"]) == list(first.trials["number"])
    assert "budget" in str(nasbox.search.__signature__) and "Run (or resume) a search" in nasbox.search.__doc__
    assert nasbox.search.SearchConfig is nasbox.search.config.SearchConfig  # and it is still the package


def test_list_spaces_and_list_models():
    assert nasbox.list_spaces()[:6] == ["seed_cnn", "resnet", "mobilenet", "efficientnet", "nb201", "darts"]
    assert nasbox.list_models() == list(ZOO_NAMES)
    assert nasbox.list_models("*resnet*") == ["resnet18", "se_resnet18"]
    assert nasbox.list_models("MobileNet*") == ["mobilenet_v2"] and nasbox.list_models("nothing*") == []
    with pytest.raises(ValueError, match="pattern"):
        nasbox.list_models(["vgg*"])


def test_create_model_from_a_zoo_name_matches_torchvision():
    torchvision = pytest.importorskip("torchvision")
    model = nasbox.create_model("resnet18", input_shape=(3, 224, 224), num_classes=1000)
    reference = torchvision.models.resnet18()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters()) == 11_689_512
    small = nasbox.create_model("resnet18")  # the zoo's defaults: 3x32x32, 10 classes
    assert sum(p.numel() for p in small.parameters()) == 11_173_962
    with pytest.raises(SpaceError, match="unknown zoo network"):
        nasbox.create_model("resnet19")
    with pytest.raises(ValueError, match="zoo name, an Architecture or a"):
        nasbox.create_model(42)


def test_create_model_from_a_genotype_or_a_trial_refits_its_head(searched):
    import torch

    reports, result = searched
    trial = int(result.pareto.iloc[0]["number"])
    model = nasbox.create_model(("api", trial), reports_dir=reports)
    row = result.trials.set_index("number").loc[trial]
    assert sum(p.numel() for p in model.parameters()) == int(row["params"])
    arch = result.architecture(trial)
    wide = nasbox.create_model(arch, num_classes=3, input_shape=(3, 32, 32))
    assert wide(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ShapeError):  # four halving pools do not fit a 4x4 input
        nasbox.create_model(arch, input_shape=(3, 4, 4))
    with pytest.raises(ConfigError, match="has no trial 99"):
        nasbox.create_model(("api", 99), reports_dir=reports)


def test_load_study_gives_what_the_search_returned(searched):
    reports, result = searched
    loaded = nasbox.load_study("api", reports_dir=reports)
    assert isinstance(loaded, SearchResult) and loaded.objectives == result.objectives
    pd.testing.assert_frame_equal(loaded.trials.drop(columns=["datetime_start", "datetime_complete"]),
                                  result.trials.drop(columns=["datetime_start", "datetime_complete"]))
    assert list(loaded.pareto["number"]) == list(result.pareto["number"])
    assert loaded.report_dir == result.report_dir and loaded.storage.endswith("journal.log")
    assert {p.name for p in loaded.files} >= {"index.html", "report.md", "trials.csv", "pareto.csv"}
    with pytest.raises(NasboxError, match="no study 'nope'"):
        nasbox.load_study("nope", reports_dir=reports)


def test_best_and_architecture_of_a_result(searched):
    _, result = searched
    pareto = result.pareto
    assert result.best("accuracy")["number"] == pareto.loc[pareto["accuracy"].idxmax(), "number"]
    for objective, column in (("macs", "macs"), ("params", "params"), ("latency", "latency_ms")):
        cheapest = pareto[pareto[column] == pareto[column].min()]
        assert result.best(objective)["number"] == cheapest.sort_values(["accuracy", "number"], ascending=[False, True]
                                                                        ).iloc[0]["number"], objective
    with pytest.raises(ValueError, match="objective must be one of"):
        result.best("speed")
    for n in result.trials["number"]:
        arch = result.architecture(int(n))
        assert arch.arch_id == result.trials.set_index("number").loc[n, "arch_id"]
    with pytest.raises(ConfigError, match="has no trial 99"):
        result.architecture(99)


def _distance_above(x0: float, y0: float, x1: float, y1: float, x: float, y: float) -> float:
    """Signed distance of (x, y) from the line through (x0, y0) and (x1, y1), positive on its upper-left side."""
    return ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / np.hypot(x1 - x0, y1 - y0)


def test_knee_is_the_point_farthest_above_the_line_between_the_extremes():
    # costs 1, 10, 100, 1000 (log: 0 .. 3 -> 0 .. 1); accuracy 0.5 .. 0.95 -> 0 .. 1; the line is y = x
    assert knee_index(np.array([0.5, 0.9, 0.92, 0.95]), np.array([1.0, 10.0, 100.0, 1000.0])) == 1
    rng = np.random.default_rng(0)
    for _ in range(50):  # random concave-ish fronts, against the distance computed another way
        cost = np.sort(rng.uniform(1e4, 1e8, 7))
        acc = np.sort(rng.uniform(0.3, 0.99, 7))
        x = (np.log10(cost) - np.log10(cost).min()) / np.ptp(np.log10(cost))
        y = (acc - acc.min()) / np.ptp(acc)
        d = [_distance_above(x[0], y[0], x[-1], y[-1], xi, yi) for xi, yi in zip(x, y, strict=True)]
        expected = int(np.argmax(d)) if max(d) > 1e-12 else int(np.argmax(acc))
        assert knee_index(acc, cost) == expected
    assert knee_index(np.array([0.4, 0.9]), np.array([1.0, 5.0])) == 1  # two points: no bend, the most accurate
    with pytest.raises(ValueError, match="positive"):
        knee_index(np.array([0.4, 0.9]), np.array([0.0, 5.0]))


def test_knee_of_a_result_uses_its_two_dimensional_front():
    pareto = pd.DataFrame({"number": [3, 1, 2, 0], "accuracy": [0.95, 0.92, 0.9, 0.5],
                           "macs": [1000.0, 100.0, 10.0, 1.0], "params": [4.0, 3.0, 2.0, 1.0]})
    result = SearchResult("s", "-", Path("r"), pareto.assign(status="complete"), pareto, ("accuracy", "macs"), [])
    assert result.knee()["number"] == 2  # macs: the first cost objective
    assert result.knee("params")["number"] == 2
    with pytest.raises(ValueError, match="trades accuracy against a cost"):
        result.knee("accuracy")


def test_a_result_and_an_analysis_are_short_in_a_terminal_and_tables_in_a_notebook(searched):
    _, result = searched
    assert len(repr(result)) < 300 and "study='api'" in repr(result)
    page = result._repr_html_()
    assert page.count("<tr>") == len(result.pareto)  # a row per candidate (the header's row carries a style)
    for n in result.pareto["number"]:
        assert f"<td>{n}</td>" in page
    info = analyze(get_zoo("mobilenet_v2", (3, 224, 224), 1000))
    assert len(str(info)) < 200 and str(info) == repr(info) and "params=3,504,872" in str(info)
    table = info.to_pandas()
    assert list(table.columns) == ["name", "op", "channels", "height", "width", "params", "macs"]
    assert len(table) == len(info.layers) and table["params"].sum() == info.params and table["macs"].sum() == info.macs
    assert tuple(table.iloc[-1][["channels", "height", "width"]]) == info.layers[-1].out_shape
    html = info._repr_html_()
    assert html.count("<tr>") == len(info.layers) + 2 and "3,504,872" in html
