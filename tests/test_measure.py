"""Tests of nasbox.measure: parameter and MAC counts against the analysis, thop beside fvcore, latency."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from nasbox.measure import latency as measure
from nasbox.measure.counts import count_macs, count_macs_thop, count_params
from nasbox.measure.latency import measure_latency
from nasbox.model.analysis import analyze
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
from nasbox.model.build import build_model
from nasbox.model.zoo import get_zoo

# thop's import-time use of distutils' LooseVersion, outside nasbox's control
pytestmark = [pytest.mark.filterwarnings("ignore:distutils Version classes are deprecated:DeprecationWarning"),
              pytest.mark.usefixtures("one_thread")]


ARCHS = {
    "plain": Architecture((3, 16, 16), 10, stages=(Stage((ConvBlock(8),), Pool("max")),
                                                   Stage((ConvBlock(16),), Pool("max")))),
    "every_block": Architecture(
        (3, 32, 32), 10,
        stem=Stage((ConvBlock(8, stride=2),)),
        stages=(
            Stage((ResidualBlock(8), ResidualBlock(16, stride=2, se_ratio=0.25)), Pool("avg")),
            Stage((DepthwiseSeparable(24, se_ratio=0.5), InvertedResidual(24, expansion=4, se_ratio=0.25),
                   ConvBlock(24, kernel=5, bn=False, act="silu")), Pool("min")),
            Stage((Inception(8, 4, 8, 4, 8, 8),)),
        ),
        head=Head("flatten", (FC(32),), 0.2),
    ),
    "resized_gray": Architecture((1, 28, 28), 5, resolution=20,
                                 stages=(Stage((ConvBlock(8, kernel=7, stride=2), ConvBlock(8, kernel=1))),)),
}
ZOO = ("resnet18", "mobilenet_v2", "efficientnet_b0", "googlenet")


def arch_by_name(name: str) -> Architecture:
    return ARCHS[name] if name in ARCHS else get_zoo(name, (3, 32, 32))


# ----------------------------------------------------------------------------- params


def test_count_params_counts_trainable_only():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    everything = sum(p.numel() for p in model.parameters())
    assert count_params(model) == everything == 3 * 8 * 9 + 8 + 2 * 8 + 288 * 10 + 10  # buffers not counted
    model[0].weight.requires_grad_(False)
    model[1].requires_grad_(False)
    assert count_params(model) == everything - 3 * 8 * 9 - 2 * 8
    assert count_params(model) == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", [*ARCHS, *ZOO])
def test_count_params_equals_analysis(name):
    arch = arch_by_name(name)
    assert count_params(build_model(arch, seed=0)) == analyze(arch).params


# ----------------------------------------------------------------------------- MACs


@pytest.mark.parametrize("name", [*ARCHS, *ZOO])
def test_count_macs_equals_analysis(name):
    """fvcore's traced count of the built model against the analytic formulas of the genotype."""
    arch = arch_by_name(name)
    model = build_model(arch, seed=0)
    macs = count_macs(model, arch.input_shape)
    assert isinstance(macs, int) and macs > 0
    assert macs == analyze(arch).macs


def test_count_macs_of_a_single_conv_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False))
    assert count_macs(model, (3, 16, 16)) == 16 * 16 * 8 * 3 * 3 * 3


@pytest.mark.parametrize("name", ["plain", "every_block", "resnet18", "mobilenet_v2"])
def test_thop_agrees_with_fvcore(name):
    arch = arch_by_name(name)
    model = build_model(arch, seed=0)
    fv = count_macs(model, arch.input_shape)
    th = count_macs_thop(model, arch.input_shape)
    assert isinstance(th, int) and th > 0
    assert 0.8 * fv <= th <= 1.2 * fv


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "modules": {
            name: (type(m), m.training, sorted(vars(m)), sorted(m._buffers), sorted(m._parameters),
                   len(m._forward_hooks), len(m._forward_pre_hooks))
            for name, m in model.named_modules()
        },
    }


def assert_same(before: dict, after: dict) -> None:
    assert after["modules"] == before["modules"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k


@pytest.mark.parametrize("count", [count_macs, count_macs_thop], ids=["fvcore", "thop"])
@pytest.mark.parametrize("training", [True, False])
def test_counting_does_not_touch_the_model(count, training):
    arch = ARCHS["every_block"]
    model = build_model(arch, seed=0).train(training)
    model.stage1.block1.conv1.conv.weight.requires_grad_(False)
    before = snapshot(model)
    grad_mode = torch.is_grad_enabled()
    assert count(model, arch.input_shape) > 0
    assert_same(before, snapshot(model))
    assert not any(hasattr(m, "total_ops") or hasattr(m, "total_params") for m in model.modules())
    assert torch.is_grad_enabled() == grad_mode
    assert count(model, arch.input_shape) == count(model, arch.input_shape)  # and counting again gives the same


# ----------------------------------------------------------------------------- latency (real clock)

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


# ----------------------------------------------------------------------------- latency (fake clock)


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
