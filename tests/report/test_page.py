"""Tests of the report page (nasbox.report.page and its plots) on a real search, in headless Chromium."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

import nasbox.measure.latency
import nasbox.model.build
import nasbox.search.costs
import nasbox.search.pipeline
import nasbox.zoo.latency
from nasbox.report import build_report, collect, open_study, report_dir_for, write_report
from nasbox.search import SearchConfig, run_search
from nasbox.zoo import ZOO_NAMES
from tests.report.chromium import CHROMIUM, CLASSICS, DRAWN, INSTALL, NAME_BOXES, ORDER, Chromium, overlapping, resize
from tests.report.support import DATA, TINY, make_study, write_zoo_scores


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A real search on synthetic data: 7 trials, some infeasible, one forced failure."""
    reports = tmp_path_factory.mktemp("search") / "reports"
    real_build = nasbox.model.build.build_model
    calls = {"n": 0}

    def build(arch, seed=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("forced failure")
        return real_build(arch, seed=seed)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nasbox.search.pipeline, "build_model", build)
        fast = functools.partial(nasbox.measure.measure_latency, min_runs=5, max_runs=20, budget_s=0.05,
                                 max_warmup_s=0.3)
        mp.setattr(nasbox.search.costs, "measure_latency", fast)
        mp.setattr(nasbox.zoo.latency, "measure_latency", fast)
        run_search(SearchConfig(space="seed_cnn", space_args=dict(TINY), dataset="synthetic", dataset_options=DATA,
                                iterations=4, batch_size=32, budget=7, reports_dir=str(reports), device="cpu",
                                seed=0, sampler="random", max_macs=90_000, study="real"), outputs=write_report)
    return reports


def test_search_writes_the_report_and_records_its_setup(searched):
    folder = searched / "real"
    for name in ("index.html", "report.md", "trials.csv", "pareto.csv", "front_macs.png",
                 "front_params.png", "front_latency.png", "hypervolume.png"):
        assert (folder / name).is_file(), name
    assert len(list(searched.glob("plotly-*.min.js"))) == 1 and not list(folder.glob("plotly*"))
    study = open_study("real", reports_dir=searched)
    assert study.metric_names == ["accuracy", "macs", "params", "latency"]  # what Optuna's dashboard shows
    measured = study.user_attrs["classics"]["models"]
    assert set(measured) == set(ZOO_NAMES) and all(m["latency_ms"] > 0 for m in measured.values())
    run = study.user_attrs["run"]
    assert set(run["splits"]) == {"train", "val", "test"} and "torch" in run["versions"]
    statuses = {t.user_attrs.get("status") for t in study.trials}
    assert {"complete", "failed", "infeasible"} <= statuses


@pytest.mark.skipif(CHROMIUM is None, reason=f"Debian's chromium is not installed ({INSTALL})")
def test_page_opens_offline_in_chromium_with_every_trial_plotted(searched, tmp_path):
    shutil.copytree(searched / "real", tmp_path / "real")
    for bundle in searched.glob("plotly-*.min.js"):  # the page loads the reports folder's plotly
        shutil.copy(bundle, tmp_path)
    page = tmp_path / "real" / "index.html"
    evil_reports = tmp_path / "evil"
    evil_study = make_study(evil_reports)
    scored = {n: 0.5 + 0.01 * i for i, n in enumerate(ZOO_NAMES)}  # nine stars crowded into a few points
    write_zoo_scores(evil_reports, evil_study, scored)
    evil_page = build_report(evil_study, report_dir_for(evil_study.study_name, evil_reports)).index
    bad = tmp_path / "bad.html"  # the checker itself must see what it is there to catch
    bad.write_text('<!DOCTYPE html><link rel="icon" href="data:,"><img src="https://example.com/x.png">'
                   '<script>console.error("boom"); undefinedFunction();</script>')
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(bad.as_uri())
        found = " | ".join(browser.problems())
        assert "network request https://example.com/x.png" in found and "boom" in found and "exception" in found
        for path, study in ((page, open_study("real", reports_dir=searched)), (evil_page, evil_study)):
            session = browser.open(path.as_uri())
            assert browser.problems() == [], path
            figures = browser.evaluate(session, DRAWN)
            views = {"view-importance", "view-parallel", "view-timeline"} if path == page else {"view-timeline"}
            assert set(figures) == {"front-macs", "front-params", "front-latency", "hv-history", *views}
            classics = browser.evaluate(session, CLASSICS)
            axes = ("front-macs", "front-params", "front-latency") if path == page else ("front-macs", "front-params")
            for fig in axes:  # every classic network on every cost axis (latency: where the search measured it)
                assert sorted(classics[fig]) == sorted(ZOO_NAMES), (path.name, fig)
            if path == page:  # costs only: one line, no table
                unscored = browser.evaluate(session, "document.getElementById('zoo-unscored').textContent")
                assert unscored.startswith(f"Not scored at this fidelity: {', '.join(ZOO_NAMES)}.")
            else:
                rows = browser.evaluate(session, "document.querySelectorAll('#zoo-table tbody tr').length")
                assert rows == len(ZOO_NAMES)
            _names_apart(browser, session, path.parent.name)
            assert browser.evaluate(session, "document.querySelectorAll('#all-table tbody tr').length") == len(
                study.trials)
            column = "[...document.querySelectorAll('#all-table tbody tr')].map(r => r.cells[{}].textContent)"
            browser.evaluate(session, "document.querySelectorAll('#all-table th')[2].click()")  # accuracy, ascending
            shown = [float(a[:-1]) for a in browser.evaluate(session, column.format(2)) if a != "-"]
            assert shown == sorted(shown) and len(shown) == sum(t.trained for t in collect(study).trials) + sum(
                t.status == "stopped" and t.accuracy is not None for t in collect(study).trials)
            browser.evaluate(session, "document.querySelectorAll('#all-table th')[4].click()")  # MACs, by value
            macs = {t.number: t.macs for t in collect(study).trials}
            order = [macs[int(n)] for n in browser.evaluate(session, column.format(0))]
            assert [m for m in order if m is not None] == sorted(m for m in order if m is not None)
            numbers = {t.number for t in study.trials}
            for fig in ("front-macs", "front-params", "front-latency"):
                seen = set(figures[fig]["drawn"]) | set(figures[fig]["missing"])
                assert seen == numbers, (path.name, fig)
                assert figures[fig]["points"] >= len(set(figures[fig]["drawn"]))
            title = browser.evaluate(session, "document.getElementById('study-name').textContent")
            assert title == study.study_name
            rows = browser.evaluate(session, "document.querySelectorAll('#pareto-table tbody tr').length")
            assert rows == len(collect(study).pareto_numbers)
            accuracy = "[...document.querySelectorAll('#pareto-table tbody tr')].map(r => +r.cells[2].dataset.v)"
            browser.evaluate(session, "document.querySelectorAll('#pareto-table th')[2].click()")  # ascending
            assert browser.evaluate(session, accuracy) == sorted(browser.evaluate(session, accuracy))
    finally:
        browser.close()


def test_the_reports_latency_definition_states_the_timings_defaults():
    import inspect

    from nasbox.measure.latency import measure_latency
    from nasbox.report.setup_info import METRIC_DEFINITIONS

    text = dict(METRIC_DEFINITIONS)["latency"]
    d = {k: v.default for k, v in inspect.signature(measure_latency).parameters.items()}
    assert f"windows of {d['window']} calls" in text and f"within {d['tolerance']:.0%}" in text
    assert f"at most {d['max_warmup_s']:g} s" in text and f"{d['min_runs']} to {d['max_runs']} timed calls" in text
    assert f"about {d['budget_s']:g} s" in text and "CUDA graph" in text



def _names_apart(browser: Chromium, session: str, name: str) -> None:
    """The Pareto table above the first plot, and the classic networks' names (beside the unscored networks' stars,
    around the scored ones' stars) all drawn, apart and inside their figure: compared box by box at the default,
    the narrowest and a wide window."""
    for width in (1400, 480, 2400):
        if width != 1400:
            resize(browser, session, width)
        order = browser.evaluate(session, ORDER)
        assert order["table_bottom"] <= order["first_plot"], (name, width, order)
        for fig, found in browser.evaluate(session, NAME_BOXES).items():
            assert sorted(n["text"] for n in found["names"]) == sorted(ZOO_NAMES), (name, fig)
            assert overlapping(found["names"]) == [], (name, width, fig)
            left, top, right, bottom = found["plot"]
            for n in found["names"]:  # inside the figure: none cut off
                assert left <= n["box"][0] and n["box"][2] <= right and top <= n["box"][1] and n["box"][3] <= bottom, (
                    name, width, fig, n)
    resize(browser, session, 1400)
