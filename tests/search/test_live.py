"""Tests of nasbox.search.live: the report rebuilt while a search runs, and never while a latency is timed."""

from __future__ import annotations

import functools
import threading
import time

import nasbox.measure.latency
import nasbox.search.costs
import nasbox.search.live
from nasbox.search import SearchConfig, run_search
from nasbox.search.live import PACE, LiveReport
from tests.report.support import DATA, TINY


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_due_after_n_trials_or_m_seconds_whichever_first():
    clock, built = Clock(), []
    live = LiveReport(lambda: built.append(1), every=3, every_s=100, clock=clock)
    for _ in range(2):
        live.trial_done()
        assert not live.start_if_due()
    live.trial_done()
    assert live.start_if_due()
    live.wait()
    assert built == [1] and live.builds == 1
    live.trial_done()
    clock.now = 99
    assert not live.due()
    clock.now = 101  # one trial since, but the time is up
    assert live.start_if_due()
    live.wait()
    assert live.builds == 2
    assert not live.due()  # nothing new since


def test_a_slow_rebuild_spaces_out_the_next_ones():
    """A rebuild that took T seconds is followed by PACE * T seconds without one, however many trials end."""
    clock = Clock()

    def slow():
        clock.now += 10.0  # this rebuild takes 10 s

    live = LiveReport(slow, every=1, every_s=1000, clock=clock)
    live.trial_done()
    assert live.start_if_due()
    live.wait()
    assert live.took == 10.0 and clock.now == 10.0
    for _ in range(50):  # many trials in the next PACE * 10 s: no rebuild
        live.trial_done()
        clock.now += (PACE * 10.0) / 60
        assert not live.start_if_due()
    clock.now = 10.0 + PACE * 10.0
    assert live.start_if_due()
    live.wait()
    assert live.builds == 2


def test_a_finished_rebuild_frees_the_slot_without_a_wait():
    """A search that times nothing (a table) never calls wait(): a finished rebuild must not block the next."""
    live = LiveReport(lambda: None, every=1, every_s=1000, clock=Clock())
    live.trial_done()
    assert live.start_if_due()
    live.thread.join()  # finished on its own
    live.trial_done()
    assert live.start_if_due()
    live.wait()
    assert live.builds == 2


def test_disabled_without_outputs_or_with_every_zero():
    for live in (LiveReport(None, every=1, every_s=1), LiveReport(lambda: None, every=0, every_s=1)):
        live.trial_done()
        assert not live.enabled and not live.start_if_due()


def test_a_failing_rebuild_is_kept_not_raised():
    def boom():
        raise OSError("disk full")

    live = LiveReport(boom, every=1, every_s=1)
    live.trial_done()
    assert live.start_if_due()
    live.wait()
    assert isinstance(live.error, OSError) and live.builds == 0


def test_one_rebuild_at_a_time():
    gate = threading.Event()
    live = LiveReport(gate.wait, every=1, every_s=1, clock=Clock())  # a rebuild that takes no time on this clock
    live.trial_done()
    assert live.start_if_due()
    live.trial_done()
    assert not live.start_if_due()  # still building
    gate.set()
    live.wait()
    assert live.start_if_due()
    live.wait()


def test_a_search_rebuilds_its_report_while_running_but_never_during_a_latency(tmp_path, monkeypatch):
    """With --report-every 1, the report is written during the search (before its end), and no rebuild
    overlaps any latency measurement (the loop waits for the rebuild before timing)."""
    building, overlaps, builds = threading.Event(), [], []
    real = functools.partial(nasbox.measure.measure_latency, min_runs=5, max_runs=10, budget_s=0.02,
                             max_warmup_s=0.2)

    def measure(*args, **kwargs):
        if building.is_set():
            overlaps.append(time.monotonic())
        return real(*args, **kwargs)

    def outputs(study, report_dir):
        building.set()
        try:
            time.sleep(0.3)  # long enough to overlap a latency if the loop did not wait
            builds.append(len(study.trials))
        finally:
            building.clear()
        return []

    monkeypatch.setattr(nasbox.search.costs, "measure_latency", measure)
    monkeypatch.setattr(nasbox.search.live, "PACE", 0.0)  # a rebuild after every trial, however long it takes
    run_search(SearchConfig(space="seed_cnn", space_args=dict(TINY), dataset="synthetic", dataset_options=DATA,
                            iterations=4, batch_size=32, budget=4, reports_dir=str(tmp_path), device="cpu",
                            sampler="random", report_every=1, classics=False, study="live"), outputs=outputs)
    assert overlaps == []
    assert len(builds) >= 3 and builds[-1] == 4  # rebuilt during the search, and once at its end
    assert min(builds[:-1]) < 4
