"""Tests of nasbox.report.accuracy: the Wilson interval against scipy and its closed form, and the decimals rule."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from nasbox.report.accuracy import (
    UNKNOWN_SIZE_DECIMALS,
    AccuracyScale,
    accuracy_scale,
    percent_decimals,
    wilson_interval,
)
from nasbox.report.collect import ReportData


@pytest.mark.parametrize("n", [1, 2, 7, 27, 90, 450, 1000, 10_000])
def test_wilson_interval_equals_scipys_for_every_count(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k / n, n)
        assert low == pytest.approx(expected.low, abs=1e-12) and high == pytest.approx(expected.high, abs=1e-12), (k, n)


def test_wilson_interval_closed_form():
    # 45 of 50 at z = 1.96: centre (0.9 + 1.96²/100) / (1 + 1.96²/50), half-width 1.96·sqrt(0.09/50 + 1.96²/10⁴) / (...)
    z = 1.96
    centre = (0.9 + z * z / 100) / (1 + z * z / 50)
    half = z * math.sqrt(0.9 * 0.1 / 50 + z * z / 10_000) / (1 + z * z / 50)
    assert wilson_interval(0.9, 50, z=z) == pytest.approx((centre - half, centre + half), abs=1e-15)
    assert wilson_interval(1.0, 90)[1] == 1.0 and wilson_interval(1.0, 90)[0] == pytest.approx(90 / (90 + 1.959963984540054**2))
    assert wilson_interval(0.0, 90)[0] == 0.0  # never below 0 nor above 1


@pytest.mark.parametrize("bad", [{"accuracy": 0.5, "n": 0}, {"accuracy": 0.5, "n": 2.5}, {"accuracy": 1.2, "n": 10},
                                 {"accuracy": float("nan"), "n": 10}, {"accuracy": 0.5, "n": True}])
def test_wilson_interval_refuses_what_is_no_proportion(bad):
    with pytest.raises(ValueError, match="got"):
        wilson_interval(**bad)


@pytest.mark.parametrize(("n", "decimals"), [(1, 0), (27, 0), (90, 0), (100, 0), (101, 1), (450, 1), (1000, 1),
                                              (1001, 2), (10_000, 2), (10_001, 3)])
def test_percent_decimals(n, decimals):
    assert percent_decimals(n) == decimals


@pytest.mark.parametrize("n", [7, 27, 90, 100, 101, 200, 450, 999, 1000, 1001, 5000])
def test_decimals_tell_every_count_apart_and_one_fewer_would_not(n):
    """The rule's definition, checked on every count: each k / n prints differently at the chosen decimals, and
    (past 100 images) two of them print alike with one decimal fewer."""
    d = percent_decimals(n)
    shown = {f"{100 * k / n:.{d}f}" for k in range(n + 1)}
    assert len(shown) == n + 1
    if d:
        assert len({f"{100 * k / n:.{d - 1}f}" for k in range(n + 1)}) < n + 1


def test_a_study_scale_comes_from_its_recorded_split():
    data = ReportData("s", ("accuracy",), ("maximize",), (), run={"splits": {"train": 810, "val": 450, "test": 100}})
    scale = accuracy_scale(data)
    assert scale == AccuracyScale(450, 1)
    scored = scale.of(0.9)
    assert scored.n == 450 and scored.decimals == 1 and scored.interval == wilson_interval(0.9, 450)
    table = scale.of(0.9, "table")  # a table's accuracy was measured on another split: no interval
    assert table.interval is None and table.n is None and table.decimals == UNKNOWN_SIZE_DECIMALS
    assert scale.of(None) is None and scale.of(float("nan")) is None
    old = ReportData("s", ("accuracy",), ("maximize",), ())  # a study whose search recorded no split sizes
    assert accuracy_scale(old) == AccuracyScale(None, UNKNOWN_SIZE_DECIMALS) and accuracy_scale(old).of(0.5).interval is None
