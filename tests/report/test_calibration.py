"""Tests of nasbox.report.calibration: each cheap score's Kendall tau against the final test accuracies."""

from __future__ import annotations

import optuna
import pytest
from scipy.stats import kendalltau

from nasbox.report.calibration import TRUST_N, calibration, final_candidates
from nasbox.study.schema import FINAL_CLASSIC, FINAL_TRIAL, Attr


def _study(brief: list[float], synflow: list[float], confirmed: dict[int, float],
           inherited: list[float] | None = None) -> optuna.Study:
    study = optuna.create_study(directions=["maximize"])
    for i, (acc, proxy) in enumerate(zip(brief, synflow, strict=True)):
        t = study.ask()
        t.set_user_attr(Attr.ACCURACY, acc)
        if inherited is not None:  # the supernet's own estimate, joined with a prior into the accuracy
            t.set_user_attr(Attr.INHERITED_ACCURACY, inherited[i])
        t.set_user_attr(Attr.EVALUATOR, "supernet")
        t.set_user_attr(Attr.PROXIES, {"synflow": proxy, "naswot": float("nan")})
        study.tell(t, acc)
    for number, acc in confirmed.items():
        t = study.ask()
        t.set_user_attr(Attr.ACCURACY, acc)
        t.set_user_attr(Attr.CONFIRMS, number)
        study.tell(t, acc)
    return study


def test_each_rungs_tau_is_scipys_on_the_stored_values_and_a_poor_rung_gets_a_verdict():
    supernet = [0.61, 0.72, 0.55, 0.80, 0.66, 0.70]
    synflow = [5.0, 1.0, 4.0, 2.0, 6.0, 3.0]  # ranks against the truth
    test = [0.81, 0.86, 0.78, 0.90, 0.84, 0.83]
    confirmed = {1: 0.70, 3: 0.75, 5: 0.71}
    study = _study(supernet, synflow, confirmed)
    attrs = {f"{FINAL_TRIAL}{n}": {"trial": n, "test_accuracy": acc, "kind": "candidate"} for n, acc in enumerate(test)}
    attrs[f"{FINAL_CLASSIC}resnet18"] = {"test_accuracy": 0.9, "kind": "classic"}  # not a rung's network
    result = calibration(study.trials, attrs)
    rungs = {r.name: r for r in result.rungs}
    assert set(rungs) == {"supernet (inherited weights)", "zero-cost proxy synflow",
                          "confirmation (standalone brief training)"}  # naswot: NaN, not a score
    for rung in rungs.values():
        xs, ys = [p[1] for p in rung.pairs], [p[2] for p in rung.pairs]
        assert rung.tau == pytest.approx(kendalltau(xs, ys).statistic)
    assert rungs["supernet (inherited weights)"].n == 6 and rungs["supernet (inherited weights)"].tau > 0.6
    assert rungs["supernet (inherited weights)"].verdict is None
    assert rungs["zero-cost proxy synflow"].tau < 0 and rungs["zero-cost proxy synflow"].n >= TRUST_N
    assert result.verdicts == [rungs["zero-cost proxy synflow"].verdict]
    assert "did not rank the finalised networks" in result.verdicts[0] and "over 6" in result.verdicts[0]
    assert rungs["confirmation (standalone brief training)"].verdict is None  # 3 networks: too few to judge
    assert sorted(final_candidates(attrs)) == list(range(6))


def test_no_final_rung_no_calibration():
    assert calibration(_study([0.5], [1.0], {}).trials, {}).rungs == ()


def test_a_supernet_estimate_joined_with_a_prior_is_a_rung_of_its_own_beside_the_supernets():
    joined = [0.62, 0.70, 0.58, 0.79, 0.64, 0.71]
    own = [0.70, 0.60, 0.66, 0.61, 0.69, 0.62]  # ranks otherwise
    test = [0.81, 0.86, 0.78, 0.90, 0.84, 0.83]
    study = _study(joined, [1.0] * 6, {}, inherited=own)
    attrs = {f"{FINAL_TRIAL}{n}": {"trial": n, "test_accuracy": acc, "kind": "candidate"} for n, acc in enumerate(test)}
    rungs = {r.name: r for r in calibration(study.trials, attrs).rungs}
    both = rungs["supernet joined with its prior (--supernet-prior)"], rungs["supernet (inherited weights)"]
    assert [p[1] for p in both[0].pairs] == joined and [p[1] for p in both[1].pairs] == own
    assert both[0].tau == pytest.approx(kendalltau(joined, test).statistic)
    assert both[1].tau == pytest.approx(kendalltau(own, test).statistic)
    assert both[1].tau < 0 < both[0].tau
