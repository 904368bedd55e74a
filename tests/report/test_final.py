"""Tests of the final rung in the report (nasbox.report.final): the headline, the classic networks against the
candidates, the calibration, in report.md and on the page."""

from __future__ import annotations

import pytest

from nasbox.report import build_report
from nasbox.report.collect import collect
from nasbox.report.final import final_info, fmt_test
from nasbox.study.schema import FINAL_CLASSIC, FINAL_TRIAL, report_dir_for
from tests.report.support import make_study


def _finalise(study, tests: dict[int, float], classics: dict[str, tuple[float, int, float | None]]) -> None:
    for number, acc in tests.items():
        a = study.trials[number].user_attrs
        study.set_user_attr(f"{FINAL_TRIAL}{number}", {
            "name": f"trial{number}", "kind": "candidate", "trial": number, "why": "the most accurate",
            "test_accuracy": acc, "macs": a["macs"], "params": a["params"], "latency_ms": a["latency_ms"],
            "epochs": 3, "seconds": 1.0})
    for name, (acc, macs, latency) in classics.items():
        study.set_user_attr(f"{FINAL_CLASSIC}{name}", {
            "name": name, "kind": "classic", "trial": None, "why": "a classic network", "test_accuracy": acc,
            "macs": macs, "params": 10**6, "latency_ms": latency, "epochs": 3, "seconds": 9.0})


def test_the_classic_networks_against_the_cheapest_candidate_at_least_as_accurate(tmp_path):
    study = make_study(tmp_path, "fin")
    tests = {0: 0.80, 1: 0.90, 2: 0.70, 3: 0.85}
    _finalise(study, tests, {"resnet18": (0.84, 5 * 10**8, 4.0), "vgg16": (0.95, 9 * 10**8, 9.0)})
    info = final_info(collect(study))
    assert [n.name for n in info.nets][:2] == ["vgg16", "trial1"]  # most accurate first
    by_name = {v.classic.name: v for v in info.versus}
    macs = {n: study.trials[n].user_attrs["macs"] for n in tests}
    # resnet18 (0.84): candidates at least as accurate are #1 (0.90) and #3 (0.85); the one with fewer MACs wins
    expected = min((1, 3), key=lambda n: macs[n])
    r = by_name["resnet18"]
    assert r.match.name == f"trial{expected}" and r.macs_share == pytest.approx(macs[expected] / (5 * 10**8))
    assert r.latency_share == pytest.approx(study.trials[expected].user_attrs["latency_ms"] / 4.0)
    v = by_name["vgg16"]  # no candidate reaches 0.95: the best (0.90) is 5 points short
    assert v.match is None and v.best.name == "trial1" and v.short_by == pytest.approx(0.05)
    assert info.test_size == 30 and fmt_test(0.9, 30) == "90% (74–97%)"


def test_the_report_leads_with_the_final_rung_and_says_when_a_score_did_not_rank(tmp_path):
    study = make_study(tmp_path, "fin")
    # the search's accuracies are 0.60, 0.70, 0.50, 0.40 for trials 0-3: test accuracies in reverse order
    _finalise(study, {0: 0.70, 1: 0.60, 2: 0.80, 3: 0.90}, {"mobilenet_v2": (0.75, 3 * 10**8, 2.0)})
    report = build_report(study, report_dir_for("fin", tmp_path))
    md = (report.report_dir / "report.md").read_text()
    assert md.index("## The final rung: test accuracy") < md.index("## Pareto-optimal candidates")
    # at least as accurate as mobilenet_v2 (75%): #3 (90%) and #2 (80%); #2 has fewer MACs
    assert "| mobilenet\\_v2 | 75% (57–87%) | 300M | 2 | trial2: 80% (63–90%) at " in md
    assert "| brief training | 4 | -1.00 |" in md  # four networks: too few for a verdict
    assert "did not rank" not in md
    page = report.index.read_text()
    assert page.index('id="final-rung"') < page.index('id="candidates"')
    assert (report.report_dir / "final.png").is_file() and (report.report_dir / "calibration.png").is_file()


def test_a_study_without_a_final_rung_reports_as_before(tmp_path):
    study = make_study(tmp_path, "plain")
    report = build_report(study, report_dir_for("plain", tmp_path))
    assert "final rung" not in (report.report_dir / "report.md").read_text()
    assert not (report.report_dir / "final.png").exists() and final_info(collect(study)) is None
