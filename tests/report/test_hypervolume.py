"""Tests of nasbox.report.hypervolume: a stated reference and a monotone history."""

from __future__ import annotations

import pytest

from nasbox.report import collect, front_info, hypervolume_info
from nasbox.study.pareto import hypervolume


def test_hypervolume_has_a_stated_reference_and_a_monotone_history(evil):
    _, study = evil
    data = collect(study)
    hv = hypervolume_info(data)
    done = [t for t in data.trials if t.status == "complete"]
    assert hv.reference == (0.0, 1.1 * max(t.macs for t in done), 1.1 * max(t.params for t in done),
                            pytest.approx(1.1 * 0.50))
    norm = [[t.accuracy, t.macs / hv.reference[1], t.params / hv.reference[2], t.latency_ms / hv.reference[3]]
            for t in done]
    assert hv.value == pytest.approx(hypervolume(norm, ["maximize"] + ["minimize"] * 3, [0, 1, 1, 1]))
    values = [v for _, v in hv.history]
    assert [n for n, _ in hv.history] == list(range(10)) and values == sorted(values)
    lat = front_info(data, "latency")  # 2-D, closed form: staircase of (0.2, .5), (0.3, .6), (0.5, .7) under 0.55
    r = lat.reference
    assert r == pytest.approx(0.55)
    assert lat.hypervolume == pytest.approx((0.5 * (r - 0.2) + 0.1 * (r - 0.3) + 0.1 * (r - 0.5)) / r)
