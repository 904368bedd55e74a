"""Tests of nasbox.report.fronts: every trial in exactly one group of each 2-D front."""

from __future__ import annotations

from nasbox.report import collect, front_info
from tests.report.support import _metrics


def test_every_trial_lands_in_exactly_one_group_of_each_view(evil):
    _, study = evil
    data = collect(study)
    assert [t.status for t in data.trials] == ["complete"] * 4 + ["repeat", "infeasible", "failed", "failed", "lost",
                                                                   "running"]
    assert data.trials[6].costs_from_analysis and data.trials[6].macs == _metrics(data.trials[6].encoding)["macs"]
    for cost in ("macs", "params", "latency"):
        info = front_info(data, cost)
        groups = [info.front, info.dominated, info.repeat, info.missing, *info.strip.values()]
        numbers = [t.number for g in groups for t in g]
        assert sorted(numbers) == list(range(10)), cost
        assert [t.number for t in info.repeat] == [4]
        assert 7 in [t.number for t in info.missing]  # no genotype, no cost
    lat = front_info(data, "latency")
    assert [t.number for t in lat.front] == [2, 0, 1]  # 0.20 ms / 0.50, 0.30 / 0.60, 0.50 / 0.70
    assert [t.number for t in lat.dominated] == [3]  # 0.45 ms for 0.40: beaten by trial 0
    assert {t.number for t in lat.missing} == {5, 6, 7, 8, 9}  # latency never measured
    macs = front_info(data, "macs")
    assert [t.number for t in macs.strip["infeasible"]] == [5] and [t.number for t in macs.strip["failed"]] == [6]
    assert [t.number for t in macs.strip["lost"]] == [8] and [t.number for t in macs.strip["running"]] == [9]
    assert set(data.pareto_numbers) == {t.number for t in study.best_trials if t.number != 4}
