"""Tests of the report's early-stopped trials, pre-screened proposals and proxy scores: how they are
collected, drawn, counted and correlated, on a hand-made study and on a real search on synthetic data."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState, create_trial

import nasbox.measure.latency
import nasbox.search.costs
import nasbox.search.pipeline
from nasbox.report import collect, front_info, hypervolume_info, open_study, write_report
from nasbox.report.candidates import candidates, zoo_comparisons
from nasbox.report.collect import ReportData, finished_count
from nasbox.report.format import fmt_missing, hover_text, script_json
from nasbox.report.fronts import front_infos
from nasbox.report.markdown import render_markdown
from nasbox.report.page import render_index
from nasbox.report.plotly_figs import front_figure
from nasbox.report.screening import MIN_CORRELATED, screening_blocks, screening_info, spearman
from nasbox.report.setup_info import setup_facts
from nasbox.search import SearchConfig, run_search

DATA = {"synthetic_shape": (3, 16, 16), "synthetic_size": 300}
TINY = {"channels": "4,8,12,16", "kernels": "3", "n_max": "1", "m_max": "4", "l_max": "0", "heads": "gap",
        "activations": "relu,silu", "pools": "max,avg"}
DIRS = [optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * 3
INF = float("inf")
optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- a hand-made study

# complete trials 0-5: (accuracy, synflow, jacob_cov); NASWOT is 5.0 for all (no correlation defined)
DONE = [(0.50, 1.0, 0.1), (0.60, -INF, 0.2), (0.70, 3.0, math.nan), (0.80, 4.0, 0.4), (0.90, 5.0, 0.3),
        (0.55, 2.0, 0.6)]


def _costs(i: int) -> dict:
    return {"macs": 10_000 * (i + 2), "flops": 20_000 * (i + 2), "params": 100 * (i + 2), "latency_ms": 0.1 * (i + 2)}


def _proxies(synflow: float, jacob_cov: float) -> dict:
    return {"synflow": synflow, "naswot": 5.0, "jacob_cov": jacob_cov}


def _stopped(at: int, iterations: int, accuracy: float, costs: dict) -> optuna.trial.FrozenTrial:
    return create_trial(state=TrialState.PRUNED, user_attrs={
        **costs, "status": "stopped", "accuracy": accuracy, "stopped_at": at, "iterations": iterations,
        "early_stop": {"rung": 0 if at == 2 else 1, "iteration": at, "accuracy": accuracy, "peers": 5},
        "proxies": _proxies(1.5, 0.5), "prescreen": {"proposals": 3, "chosen": True}})


def hand_made() -> optuna.Study:
    """0-5 complete with proxy scores; 6 stopped at iteration 2 of 8 (cheaper and more accurate than every
    complete trial: it would own every front), 7 at 4 of 8, 8 at 4 with its budget not recorded beyond the
    stop; 9-10 screened out; 11 pruned by something else (no status); 12 lost."""
    study = optuna.create_study(directions=DIRS)
    study.set_user_attr("setup", {"objectives": ["accuracy", "macs", "params", "latency"]})
    for i, (acc, syn, jac) in enumerate(DONE):
        costs = _costs(i)
        study.add_trial(create_trial(values=[acc, costs["macs"], costs["params"], costs["latency_ms"]], user_attrs={
            **costs, "status": "complete", "accuracy": acc, "iterations": 8, "epochs": 1.0,
            "proxies": _proxies(syn, jac)}))
    cheapest = {"macs": 1_000, "flops": 2_000, "params": 10, "latency_ms": 0.01}
    study.add_trial(_stopped(2, 8, 0.95, cheapest))
    study.add_trial(_stopped(4, 8, 0.30, _costs(7)))
    study.add_trial(_stopped(4, 4, 0.20, _costs(8)))
    for i in (9, 10):
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
            **_costs(i), "status": "screened", "fail_reason": "screened out by --prescreen: trial #0 was more promising",
            "proxies": _proxies(0.5, -INF), "prescreen": {"proposals": 3, "chosen": False}}))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=_costs(11)))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={**_costs(12), "lost": "interrupted"}))
    return study


def _render(data: ReportData) -> tuple[str, str]:
    """The page and the Markdown of a study, without writing files."""
    fronts = front_infos(data)
    hv = hypervolume_info(data)
    rows = candidates(data, fronts)
    comparisons = zoo_comparisons(data, [])
    info = screening_info(data)
    return (render_index(data, fronts, hv, rows, comparisons, "none", info),
            render_markdown(data, fronts, hv, rows, comparisons, "none", info))


def test_stopped_and_screened_trials_keep_their_status_rung_and_scores():
    study = hand_made()
    data = collect(study)
    assert [t.status for t in data.trials] == (["complete"] * 6 + ["stopped"] * 3 + ["screened"] * 2
                                               + ["failed", "lost"])
    counts = data.counts()
    assert (counts["stopped"], counts["screened"], counts["failed"], counts["lost"]) == (3, 2, 1, 1)
    six, eight = data.trial(6), data.trial(8)
    assert six.accuracy == 0.95 and not six.trained and (six.stopped_at, six.budget_iterations) == (2, 8)
    assert six.reason is None and eight.stopped_at == 4 and eight.budget_iterations is None
    assert data.trial(0).stopped_at is None and data.trial(0).budget_iterations == 8
    assert data.trial(9).accuracy is None and data.trial(9).reason.startswith("screened out by --prescreen")
    assert data.trial(11).reason == "stopped early"  # pruned without a status of nasbox's
    assert data.trial(1).proxies == {"synflow": -INF, "naswot": 5.0, "jacob_cov": 0.2}
    assert data.trial(2).proxies == {"synflow": 3.0, "naswot": 5.0}  # NaN left out
    assert hash(six) == hash(dataclasses.replace(six))  # still hashable with its dict of scores
    assert finished_count(study) == 10  # 6 complete + 3 stopped + 1 failed; screened and lost do not count
    assert ("budget", "- trials; 10 counted so far (6 complete, 3 stopped, 2 screened, 1 failed, 1 lost)") in \
        setup_facts(data)
    assert 6 not in data.pareto_numbers


def test_stopped_trials_are_drawn_at_their_rung_but_never_on_the_front_nor_in_the_hypervolume():
    data = collect(hand_made())
    without = dataclasses.replace(data, trials=tuple(t for t in data.trials if t.status != "stopped"))
    for cost in ("macs", "params", "latency"):
        info = front_info(data, cost)
        assert [t.number for t in info.stopped] == [6, 7, 8], cost
        assert 6 not in {t.number for group in (info.front, info.dominated, info.repeat, info.missing) for t in group}
        assert info.numbers() == set(range(13))
        assert [t.number for t in info.strip["screened"]] == [9, 10]
        assert [t.number for t in info.strip["failed"]] == [11] and [t.number for t in info.strip["lost"]] == [12]
        assert info.hypervolume == front_info(without, cost).hypervolume > 0
        traces = {t["legendgroup"]: t for t in front_figure(info)["data"]}
        stopped = traces["stopped"]
        assert stopped["customdata"] == [6, 7, 8] and stopped["y"] == [0.95, 0.30, 0.20] and stopped["yaxis"] == "y"
        assert traces["screened"]["customdata"] == [9, 10] and traces["screened"]["yaxis"] == "y2"
        assert not set(stopped["customdata"]) & set(traces["front"]["customdata"])
        script_json(front_figure(info))  # -inf proxy scores never reach the page's JSON as numbers
    hv, hv_without = hypervolume_info(data), hypervolume_info(without)
    assert (hv.value, hv.n_points, hv.reference) == (hv_without.value, 6, hv_without.reference)
    assert "stopped at iteration 2 (of 8)" in hover_text(data.trial(6))
    assert "stopped at iteration 4<br>" in hover_text(data.trial(8))  # its budget is not known
    assert "proxies: synflow -inf, NASWOT 5, jacob_cov 0.2" in hover_text(data.trial(1))
    assert "stopped at" not in hover_text(data.trial(0)) and "proxies" not in hover_text(data.trial(11))
    # the many screened-out proposals are counted, not listed, where an axis has no value for them
    assert fmt_missing([data.trial(n) for n in (9, 11, 10, 12)], 1) == "#11 (failed) and 1 more, plus 2 screened out"


def test_spearman_ranks_minus_infinity_lowest_and_is_undefined_for_constant_scores():
    # ranks of synflow (-inf lowest) and accuracy; no ties, so rho = 1 - 6 sum d^2 / (n (n^2 - 1))
    syn_ranks, acc_ranks = [2, 1, 4, 5, 6, 3], [1, 3, 4, 5, 6, 2]
    d2 = sum((a - b) ** 2 for a, b in zip(syn_ranks, acc_ranks, strict=True))
    assert spearman([s for _, s, _ in DONE], [a for a, _, _ in DONE]) == pytest.approx(1 - 6 * d2 / (6 * 35))
    assert spearman([1, 2, 3], [3, 3, 3]) is None
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="as long as"):
        spearman([1, 2], [1, 2, 3])


def test_the_section_counts_stops_per_rung_screened_proposals_and_correlations():
    data = collect(hand_made())
    info = screening_info(data)
    assert info.shown and info.stopped == 3 and (info.scored, info.screened, info.correlated) == (11, 2, 6)
    rho = {c.proxy: (c.rho, c.n) for c in info.correlations}
    assert rho["synflow"][0] == pytest.approx(1 - 6 * 6 / (6 * 35)) and rho["synflow"][1] == 6
    assert rho["naswot"] == (None, 6)
    # jacob_cov: trial 2 has none; ranks of the five others 1 2 4 3 5 against accuracy 1 3 4 5 2
    assert rho["jacob_cov"][0] == pytest.approx(1 - 6 * 14 / (5 * 24)) and rho["jacob_cov"][1] == 5
    blocks = {b.key: b for b in screening_blocks(info, {"early_stop_eta": 3, "prescreen": 3})}
    assert blocks["stops"].text.startswith("3 trials stopped early (--early-stop, reduction factor 3)")
    assert blocks["stops"].rows == (("2", "2 of 8 (25%)", "1", "#6"), ("4", "4 of 8 (50%)", "1", "#7"),
                                    ("4", "-", "1", "#8"))
    assert "11 proposals scored" in blocks["prescreen"].text and "2 screened out" in blocks["prescreen"].text
    assert "9 chosen: 0.222 screened out per chosen proposal" in blocks["prescreen"].text
    assert blocks["proxy-correlation"].rows == (("synflow", "+0.829", "6"), ("NASWOT", "-", "6"),
                                                ("jacob_cov", "+0.300", "5"))
    page, md = _render(data)
    assert '<section id="screening">' in page and "<td>+0.829</td>" in page and "<td>2 of 8 (25%)</td>" in page
    assert "(6 complete, 3 stopped, 2 screened, 1 failed, 1 lost)" in page
    assert "## Early stopping and pre-screening" in md and "| jacob\\_cov | +0.300 | 5 |" in md
    assert md.index("## Early stopping") < md.index("## Hypervolume")


def test_few_complete_trials_with_scores_give_no_correlation_and_a_plain_study_no_section():
    data = collect(hand_made())
    few = dataclasses.replace(data, trials=tuple(t for t in data.trials if t.number >= MIN_CORRELATED - 1))
    info = screening_info(few)
    assert info.correlated == 2 and info.correlations == ()
    block = screening_blocks(info, {})[-1]
    assert block.key == "proxy-correlation" and not block.rows
    assert f"at least {MIN_CORRELATED} complete trials carry proxy scores (2 so far)" in block.text
    plain = dataclasses.replace(data, trials=tuple(
        dataclasses.replace(t, proxies=None) for t in data.trials if t.status == "complete"))
    assert not screening_info(plain).shown and screening_blocks(screening_info(plain), {}) == []
    page, md = _render(plain)
    assert 'id="screening"' not in page and "Early stopping" not in md and "stopped early" not in page


# --------------------------------------------------------------------------- a real search


def _latency_by_size(model, input_shape, *, threads=1, **kw) -> nasbox.measure.latency.Latency:
    """A latency that follows the parameter count exactly: a candidate then escapes a stop only by its accuracy
    or its size, not by timing noise (with four noisy objectives a machine may see no candidate dominated)."""
    params = sum(p.numel() for p in model.parameters())
    return nasbox.measure.latency.Latency(median_ms=params / 1e4, iqr_ms=0.0, runs=5, warmup_runs=0, threads=threads,
                                          device="cpu")


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A real search with early stopping and pre-screening of 3 proposals per trained trial. With eta 2 half
    of the candidates at a rung stop (here 3 of 14, at both rungs) and enough complete trials remain to
    correlate the proxies with (11; eta 100 would leave only the first 4 and the non-dominated ones)."""
    reports = tmp_path_factory.mktemp("screening") / "reports"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead (see the one_thread fixture)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(nasbox.search.costs, "measure_latency", _latency_by_size)
            run_search(SearchConfig(space="seed_cnn", space_args=dict(TINY), dataset="synthetic", dataset_options=DATA,
                                    iterations=8, batch_size=32, budget=14, reports_dir=str(reports), device="cpu",
                                    seed=0, sampler="random", early_stop=True, early_stop_eta=2, prescreen=3,
                                    study="screen"), outputs=write_report)
    finally:
        torch.set_num_threads(threads)
    return reports


def _figures(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="figures">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def _table(page: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)] for row in re.findall(r"<tr>(.*?)</tr>", body)]


@pytest.mark.slow  # a real search of 14 trials with pre-screening and early stopping (about 20-50 s)
def test_a_real_search_reports_its_stopped_and_screened_trials(searched):
    study = open_study("screen", reports_dir=searched)
    attrs = {t.number: t.user_attrs for t in study.trials}
    stopped = sorted(n for n, a in attrs.items() if a.get("status") == "stopped")
    screened = sorted(n for n, a in attrs.items() if a.get("status") == "screened")
    assert stopped and len(screened) == 2 * (len(attrs) - len(screened)) == 28  # 2 of every 3 proposals
    page = (searched / "screen" / "index.html").read_text()
    header = re.search(r"<p>(\d+) trials \((.*?)\)", page)
    assert int(header.group(1)) == len(attrs)
    assert f"{len(stopped)} stopped" in header.group(2) and f"{len(screened)} screened" in header.group(2)
    figures = _figures(page)
    for fig in ("front-macs", "front-params", "front-latency"):
        traces = {t["legendgroup"]: t for t in figures[fig]["data"]}
        drawn = traces["stopped"]
        assert sorted(drawn["customdata"]) == stopped, fig
        for n, y in zip(drawn["customdata"], drawn["y"], strict=True):
            assert y == attrs[n]["early_stop"]["accuracy"] == attrs[n]["accuracy"]
        assert not set(stopped) & set(traces["front"]["customdata"])
        if fig == "front-latency":  # never measured: not drawn, and counted rather than listed
            missing = re.search(r'id="front-latency">.*?<span class="missing" data-numbers="([\d ]*)">(.*?)</span>',
                                page, re.S)
            assert set(screened) <= {int(n) for n in missing.group(1).split()} and missing.group(2).endswith(
                f"not drawn: {len(screened)} screened out")
        else:
            assert sorted(traces["screened"]["customdata"]) == screened and traces["screened"]["yaxis"] == "y2"
        for text, n in zip(drawn["text"], drawn["customdata"], strict=True):
            assert f"stopped at iteration {attrs[n]['stopped_at']} (of 8)" in text and "proxies: synflow " in text
    per_rung = pd.Series([attrs[n]["stopped_at"] for n in stopped]).value_counts().sort_index()
    assert [(int(r[0]), int(r[2])) for r in _table(page, "stops-table")] == list(per_rung.items())
    assert {r[0] for r in _table(page, "stops-table")} <= {"2", "4"}  # the rungs of an 8-iteration budget


@pytest.mark.slow  # a real search of 14 trials with pre-screening and early stopping (about 20-50 s)
def test_a_real_search_correlates_each_proxy_with_the_trained_accuracy(searched):
    study = open_study("screen", reports_dir=searched)
    done = [t.user_attrs for t in study.trials if t.user_attrs.get("status") == "complete"]
    frame = pd.DataFrame([{"accuracy": a["accuracy"], **a["proxies"]} for a in done])
    assert len(frame) >= MIN_CORRELATED and frame.notna().all().all()
    assert all(math.isfinite(v) for v in frame.to_numpy().ravel())  # so pandas' Spearman is defined
    expected = frame.corr(method="spearman")["accuracy"].drop("accuracy")
    page = (searched / "screen" / "index.html").read_text()
    rows = _table(page, "proxy-correlation-table")
    assert [r[0] for r in rows] == ["synflow", "NASWOT", "jacob_cov"]
    for (_, rho, n), name in zip(rows, ("synflow", "naswot", "jacob_cov"), strict=True):
        assert int(n) == len(frame)
        assert rho == ("-" if pd.isna(expected[name]) else f"{expected[name]:+.3f}"), name
    md = (searched / "screen" / "report.md").read_text()
    for label, rho, n in rows:
        assert f"| {label.replace('_', chr(92) + '_')} | {rho} | {n} |" in md
    assert f"over the {len(frame)} complete trials" in page
    assert "42 proposals scored" in page and "28 screened out" in page and "14 chosen: 2 screened out per" in page


@pytest.mark.slow  # a real search of 14 trials with pre-screening and early stopping (about 20-50 s)
def test_the_screening_page_opens_offline_in_chromium(searched, tmp_path):
    from tests.report.chromium import CHROMIUM, Chromium

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    shutil.copytree(searched / "screen", tmp_path / "screen")
    for bundle in searched.glob("plotly-*.min.js"):  # the page loads the reports folder's plotly
        shutil.copy(bundle, tmp_path)
    browser = Chromium(tmp_path / "profile")
    try:
        session = browser.open((tmp_path / "screen" / "index.html").as_uri())
        assert browser.problems() == []
        names = browser.evaluate(session, "[...document.querySelectorAll('#front-macs .legendtext')]"
                                          ".map(e => e.textContent)")
        assert any(n.startswith("stopped early (accuracy at its rung)") for n in names)
        assert any(n.startswith("screened (by the proxies") for n in names)
    finally:
        browser.close()


def test_pareto_csv_and_report_list_the_same_front_without_genotype_ids():
    from nasbox.study.pareto import non_dominated_mask
    from nasbox.study.tables import pareto_dataframe, trials_dataframe

    study = hand_made()  # no trial has an arch_id: each is a genotype of its own
    done = [t for t in study.trials if t.user_attrs.get("status") == "complete"]
    mask = non_dominated_mask([t.values for t in done], DIRS)
    expected = sorted((t for t, m in zip(done, mask, strict=True) if m), key=lambda t: (-t.values[0], t.number))
    assert len(expected) >= 2
    assert collect(study).pareto_numbers == tuple(t.number for t in expected)
    assert list(pareto_dataframe(study, trials_dataframe(study))["number"]) == [t.number for t in expected]
