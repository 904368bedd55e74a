"""Tests of nasbox.measure.latency: batch-1 latency on a real clock and, for warm-up and statistics, a fake one."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from nasbox.measure import latency as measure
from nasbox.measure.counts import count_macs
from nasbox.measure.latency import measure_latency
from tests.measure.support import assert_same, snapshot

# thop's import-time use of distutils' LooseVersion, outside nasbox's control
pytestmark = [pytest.mark.filterwarnings("ignore:distutils Version classes are deprecated:DeprecationWarning"),
              pytest.mark.usefixtures("one_thread")]

FAST = {"window": 5, "tolerance": 0.5, "max_warmup_s": 2.0, "budget_s": 0.05}


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())


def wide_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())


@pytest.mark.parametrize("channels_last", [False, True])
def test_latency_basic_figures(channels_last):
    lat = measure_latency(tiny_net(), (3, 32, 32), min_runs=12, max_runs=40, channels_last=channels_last, **FAST)
    assert lat.median_ms > 0
    assert lat.iqr_ms >= 0
    assert 12 <= lat.runs <= 40
    assert lat.warmup_runs >= 2 * FAST["window"] and lat.warmup_runs % FAST["window"] == 0
    assert lat.threads == 1 and lat.device == "cpu"
    assert lat.to_dict()["median_ms"] == lat.median_ms


def test_cpu_latency_is_eager_and_cuda_graphs_need_cuda():
    assert measure_latency(tiny_net(), (3, 8, 8), min_runs=5, max_runs=10, **FAST).cuda_graph is False
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        measure_latency(tiny_net(), (3, 8, 8), cuda_graph=True, **FAST)


class _HostSync(nn.Module):
    """A forward pass that reads a value back to the host: it cannot be captured in a CUDA graph."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y * float(y.mean().item() > -1e9)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_cuda_latency_replays_a_captured_graph():
    lat = measure_latency(wide_net(), (3, 32, 32), device="cuda", min_runs=5, max_runs=10, **FAST)
    assert lat.cuda_graph is True and lat.median_ms > 0
    eager = measure_latency(wide_net(), (3, 32, 32), device="cuda", cuda_graph=False, min_runs=5, max_runs=10, **FAST)
    assert eager.cuda_graph is False and eager.median_ms > 0


@needs_cuda
def test_cuda_latency_falls_back_to_eager_when_capture_fails():
    lat = measure_latency(_HostSync(), (3, 16, 16), device="cuda", min_runs=5, max_runs=10, **FAST)
    assert lat.cuda_graph is False and lat.median_ms > 0
    # the device is usable afterwards: a capturable model still gets its graph
    assert measure_latency(tiny_net(), (3, 16, 16), device="cuda", min_runs=5, max_runs=10, **FAST).cuda_graph


def test_latency_restores_thread_count():
    torch.set_num_threads(2)
    lat = measure_latency(tiny_net(), (3, 16, 16), threads=1, min_runs=5, max_runs=10, **FAST)
    assert lat.threads == 1
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    measure_latency(tiny_net(), (3, 16, 16), threads=2, min_runs=5, max_runs=10, **FAST)
    assert torch.get_num_threads() == 1


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")


def test_latency_restores_thread_count_on_error():
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError, match="boom"):
        measure_latency(Boom(), (3, 8, 8), threads=1, **FAST)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("training", [True, False])
def test_latency_leaves_the_model_alone(training):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)).train(training)
    before = snapshot(model)
    measure_latency(model, (3, 16, 16), min_runs=5, max_runs=10, **FAST)
    assert_same(before, snapshot(model))
    assert all(m.training == training for m in model.modules())


def test_latency_of_a_bigger_model_is_higher():
    shape = (3, 32, 32)
    tiny, wide = tiny_net(), wide_net()
    assert count_macs(wide, shape) >= 10 * count_macs(tiny, shape)  # here about 350x
    small = measure_latency(tiny, shape, min_runs=15, max_runs=40, **FAST)
    big = measure_latency(wide, shape, min_runs=15, max_runs=40, **FAST)
    assert big.median_ms > 2 * small.median_ms


class FakeClock:
    """A ``time`` stand-in whose clock moves only when a model call says how long it took."""

    def __init__(self, cost_ms) -> None:
        self.now = 0.0
        self.calls = 0
        self.cost_ms = cost_ms

    def perf_counter(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += self.cost_ms(self.calls) / 1e3
        self.calls += 1


def clocked_model(clock: FakeClock) -> nn.Module:
    """A model whose forward advances ``clock``; the clock is in a closure, so ``deepcopy`` shares it."""

    class Clocked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            clock.call()
            return x * self.scale

    return Clocked()


def fake_latency(monkeypatch, cost_ms, **kwargs):
    clock = FakeClock(cost_ms)
    monkeypatch.setattr(measure, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    return measure_latency(clocked_model(clock), (1, 2, 2), **kwargs), clock


def test_warmup_stops_after_two_windows_on_a_stable_model(monkeypatch):
    lat, clock = fake_latency(monkeypatch, lambda i: 1.0, window=10, min_runs=30, max_runs=30, max_warmup_s=100)
    assert lat.warmup_runs == 20
    assert lat.runs == 30
    assert clock.calls == 50
    assert lat.median_ms == pytest.approx(1.0)
    assert lat.iqr_ms == pytest.approx(0.0, abs=1e-9)


def test_warmup_waits_until_slow_first_calls_settle(monkeypatch):
    """First calls 50x slower, decaying (as measured: 60 ms against 0.4 ms): no fixed handful of warm-up calls."""
    lat, _ = fake_latency(monkeypatch, lambda i: 1.0 + 50 * 0.8 ** i, window=10, tolerance=0.05, min_runs=30,
                          max_runs=30, max_warmup_s=100)
    assert 30 <= lat.warmup_runs <= 100
    assert lat.median_ms == pytest.approx(1.0, rel=0.02)  # the steady state, not the start-up


def test_warmup_gives_up_after_max_warmup_s(monkeypatch):
    """Window medians alternate 1 ms and 2 ms forever: stop once 0.5 s of warm-up has passed."""
    lat, _ = fake_latency(monkeypatch, lambda i: 1.0 if (i // 10) % 2 == 0 else 2.0, window=10, min_runs=10,
                          max_runs=10, max_warmup_s=0.5)
    assert 320 <= lat.warmup_runs <= 360  # 1.5 ms a call on average -> about 333 calls
    assert lat.runs == 10


def test_timed_runs_respect_budget_and_bounds(monkeypatch):
    lat, _ = fake_latency(monkeypatch, lambda i: 2.0, window=5, min_runs=10, max_runs=1000, budget_s=0.1)
    assert 49 <= lat.runs <= 51  # 0.1 s of 2 ms calls
    lat, _ = fake_latency(monkeypatch, lambda i: 2.0, window=5, min_runs=10, max_runs=20, budget_s=10.0)
    assert lat.runs == 20  # max_runs caps a generous budget
    lat, _ = fake_latency(monkeypatch, lambda i: 50.0, window=5, min_runs=10, max_runs=1000, budget_s=0.1)
    assert lat.runs == 10  # min_runs beats an exhausted budget


def test_median_and_iqr_of_timed_runs(monkeypatch):
    # warm-up: two windows of 5 calls at 1 ms; timed: 1, 2, ..., 9 ms
    lat, _ = fake_latency(monkeypatch, lambda i: 1.0 if i < 10 else float(i - 9), window=5, min_runs=9, max_runs=9)
    assert lat.warmup_runs == 10
    assert lat.median_ms == pytest.approx(5.0)
    assert lat.iqr_ms == pytest.approx(7.5 - 2.5)  # statistics.quantiles, exclusive method


def test_outputs_match_compares_every_tensor_of_a_forward_pass():
    from nasbox.measure.latency import _tensors, outputs_match

    a = torch.randn(2, 5)
    nested = (a, {"aux": [a * 2, 3]})
    assert [t.shape for t in _tensors(nested)] == [(2, 5), (2, 5)]
    assert outputs_match(_tensors(nested), _tensors((a.clone(), {"aux": [a * 2, 0]})))
    assert outputs_match([a], [a + 1e-7])  # a kernel's rounding
    nan = torch.tensor([1.0, float("nan")])
    assert outputs_match([nan], [nan.clone()])  # a network that outputs NaN replays NaN
    assert not outputs_match([a], [a + 0.01])
    assert not outputs_match([a], [a[:1]])  # another shape
    assert not outputs_match([a], [a, a])  # another number of outputs


class _HostCounter(nn.Module):
    """A forward pass that adds a Python number it changes on every call: capturable, but a
    graph replays the number it had at capture, so replays differ from eager calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.conv(x) + float(self.calls)


@needs_cuda
def test_cuda_latency_is_eager_when_a_replay_differs_from_an_eager_call():
    lat = measure_latency(_HostCounter(), (3, 16, 16), device="cuda", min_runs=5, max_runs=10, **FAST)
    assert lat.cuda_graph is False and lat.median_ms > 0
