"""Tests of nasbox.measure.proxies: zero-cost proxies, their robust scoring and the rank combination."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nasbox.measure import proxies
from nasbox.measure.proxies import jacob_cov, naswot, rank_candidates, score_proxies, synflow
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock, DepthwiseSeparable, Inception, InvertedResidual, ResidualBlock
from nasbox.model.build import build_model

SHAPE = (1, 16, 16)
NAMES = ("synflow", "naswot", "jacob_cov")


pytestmark = pytest.mark.usefixtures("one_thread")


def small_cnn(width: int = 8, act: str = "relu") -> Architecture:
    return Architecture(
        SHAPE, 10,
        stages=(
            Stage((ConvBlock(width, act=act), ConvBlock(width, act=act)), Pool("max")),
            Stage((ConvBlock(2 * width, act=act),), Pool("avg")),
            Stage((ConvBlock(2 * width, act=act),)),
        ),
        head=Head("gap", (FC(32),)),
    )


def every_block_arch() -> Architecture:
    return Architecture(
        (3, 16, 16), 10,
        stem=Stage((ConvBlock(8, act="silu"),), Pool("min")),
        resolution=20,
        stages=(
            Stage((ResidualBlock(8, se_ratio=0.25, act="hardswish"), ConvBlock(8, act="leaky_relu", bn=False))),
            Stage((DepthwiseSeparable(16, act="gelu"), InvertedResidual(16, stride=2, act="relu6", se_ratio=0.25))),
            Stage((Inception(4, 4, 8, 2, 4, 4, k5=3),)),
        ),
        head=Head("flatten", (FC(16, "gelu", 0.5),), dropout=0.2),
    )


def images(n: int = 8, shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> torch.Tensor:
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))


def run_proxy(name: str, model: nn.Module, x: torch.Tensor) -> float:
    return proxies.PROXIES[name](model, x)


def broken(model: nn.Module) -> nn.Module:
    """All-zero weights in the second stage's convolution: no signal passes that layer."""
    with torch.no_grad():
        model.stage2.block1.conv.weight.zero_()
    return model


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arch", [small_cnn(), every_block_arch()], ids=["small_cnn", "every_block"])
def test_proxy_is_finite_and_leaves_the_model_untouched(name: str, arch: Architecture) -> None:
    model = build_model(arch, seed=0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    value = run_proxy(name, model, images(shape=arch.input_shape))
    assert isinstance(value, float) and math.isfinite(value)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_healthy_network_ranks_above_a_broken_one(name: str) -> None:
    x = images()
    healthy = run_proxy(name, build_model(small_cnn(), seed=0), x)
    dead = run_proxy(name, broken(build_model(small_cnn(), seed=0)), x)
    assert math.isfinite(healthy)
    assert dead < healthy


def test_score_proxies_ranks_the_broken_network_last(monkeypatch: pytest.MonkeyPatch) -> None:
    x = images()
    healthy = score_proxies(small_cnn(), x)
    real_build = proxies.build_model
    monkeypatch.setattr(proxies, "build_model", lambda arch, seed=None: broken(real_build(arch, seed=seed)))
    dead = score_proxies(small_cnn(), x)
    assert list(healthy) == list(NAMES)
    assert all(math.isfinite(v) for v in healthy.values())
    assert rank_candidates([dead, healthy], NAMES) == [1, 0]


def test_synflow_ignores_the_batch_contents_and_is_seeded() -> None:
    a = score_proxies(small_cnn(), images(seed=1), names=("synflow",))
    b = score_proxies(small_cnn(), 100 * images(n=3, seed=2), names=("synflow",))
    assert a == b
    assert score_proxies(small_cnn(), images(), names=("synflow",), seed=1) != a


def test_synflow_grows_with_width() -> None:
    scores = [synflow(build_model(small_cnn(width), seed=0), SHAPE) for width in (4, 8, 16, 32)]
    assert scores == sorted(scores) and len(set(scores)) == 4


def test_synflow_flows_through_relu6_and_zero_init_residuals() -> None:
    relu = synflow(build_model(small_cnn(act="relu"), seed=0), SHAPE)
    relu6 = synflow(build_model(small_cnn(act="relu6"), seed=0), SHAPE)
    assert relu6 == pytest.approx(relu)  # ReLU6 saturation would stop the flow; it is scored as ReLU
    res = Architecture(SHAPE, 10, (Stage((ConvBlock(8), ResidualBlock(8))),))
    model = build_model(res, seed=0)
    assert torch.count_nonzero(model.stage1.block2.conv2.bn.weight) == 0  # zero-init residual
    with torch.no_grad():
        model.stage1.block2.conv1.conv.weight.mul_(10)
    assert synflow(model, SHAPE) > synflow(build_model(res, seed=0), SHAPE)  # the residual branch counts


def test_naswot_prefers_separating_activations() -> None:
    x = images()
    separating = naswot(build_model(small_cnn(), seed=0), x)
    model = build_model(small_cnn(), seed=0)
    with torch.no_grad():
        model.stage1.block1.conv.weight.zero_()  # every input gets the same code everywhere
    assert math.isfinite(separating)
    assert naswot(model, x) < separating
    same_images = images(n=1).expand(8, *SHAPE)
    assert naswot(build_model(small_cnn(), seed=0), same_images) == -math.inf


def test_naswot_kernel_bound() -> None:
    """K's entries count agreeing units, so log|K| <= B * log(units) (Hadamard's inequality)."""
    model = build_model(small_cnn(), seed=0)
    units = 2 * 8 * 16 * 16 + 16 * 8 * 8 + 16 * 4 * 4 + 32
    assert naswot(model, images()) <= 8 * math.log(units)


def test_jacob_cov_is_largest_for_uncorrelated_jacobians() -> None:
    """Upper bound: -sum(log(l + k) + 1/(l + k)) <= -B, reached when the correlation is the identity."""
    linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))  # the same Jacobian for every image
    x = torch.randn(4, 1, 2, 2)
    assert jacob_cov(linear, x) < -1e4
    value = jacob_cov(build_model(small_cnn(), seed=0), images())
    assert -1e4 < value <= -8 + 1e-6


@pytest.mark.parametrize("proxy", [naswot, jacob_cov])
def test_batch_proxies_validate_the_batch(proxy) -> None:
    model = build_model(small_cnn(), seed=0)
    with pytest.raises(ValueError, match="B >= 2"):
        proxy(model, images(n=1))
    with pytest.raises(ValueError, match="floating point"):
        proxy(model, torch.zeros((2, *SHAPE), dtype=torch.uint8))


def test_synflow_validates_the_shape() -> None:
    with pytest.raises(ValueError, match="input_shape"):
        synflow(build_model(small_cnn(), seed=0), (16, 16))


def test_score_proxies_turns_failures_into_minus_inf(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(model: nn.Module, x: torch.Tensor) -> float:
        raise RuntimeError("out of memory")

    monkeypatch.setitem(proxies.PROXIES, "boom", boom)
    monkeypatch.setitem(proxies.PROXIES, "nan", lambda model, x: float("nan"))
    monkeypatch.setitem(proxies.PROXIES, "inf", lambda model, x: math.inf)
    scores = score_proxies(small_cnn(), images(), names=("boom", "naswot", "nan", "inf"))
    assert list(scores) == ["boom", "naswot", "nan", "inf"]
    assert scores["boom"] == scores["nan"] == scores["inf"] == -math.inf
    assert math.isfinite(scores["naswot"])


def test_score_proxies_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown proxies"):
        score_proxies(small_cnn(), images(), names=("synflow", "grasp"))


def test_rank_candidates_closed_form() -> None:
    scores = [
        {"a": 1.0, "b": 3.0},  # ranks a 1,   b 3.5 -> 2.25
        {"a": 2.0, "b": 2.0},  # ranks a 2,   b 2   -> 2
        {"a": 3.0, "b": 1.0},  # ranks a 3.5, b 1   -> 2.25
        {"a": 3.0, "b": 3.0},  # ranks a 3.5, b 3.5 -> 3.5
    ]
    assert rank_candidates(scores, ("a", "b")) == [3, 0, 2, 1]  # ties keep the input order
    assert rank_candidates(scores, ("a",)) == [2, 3, 1, 0]
    assert rank_candidates(scores, ("b",)) == [0, 3, 1, 2]


def test_rank_candidates_puts_failures_last() -> None:
    scores = [{"s": float("nan")}, {"s": -math.inf}, {"s": -5.0}, {"s": 7.0}]
    assert rank_candidates(scores, ("s",)) == [3, 2, 0, 1]
    assert rank_candidates([], ("s",)) == []
    with pytest.raises(ValueError, match="at least one"):
        rank_candidates(scores, ())
    with pytest.raises(ValueError, match="lack"):
        rank_candidates(scores, ("s", "t"))


def test_every_proxy_scores_a_disconnected_cell_without_raising() -> None:
    """A NAS-Bench-201 cell whose output no edge reaches computes zeros: the input gets no gradient at all
    (jacob_cov once raised on x.grad being None). It scores -inf where the proxy needs the input's signal."""
    from nasbox.spaces import get_space

    space = get_space("nb201", input_shape=(3, 16, 16), num_classes=5, args={"channels": "4", "cells": "1"})
    arch = space.parse_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")
    model = build_model(arch, seed=0)
    images = torch.randn(8, 3, 16, 16)
    assert jacob_cov(model, images) == -math.inf  # raised AttributeError before
    naswot(model, images)
    synflow(model, (3, 16, 16))  # neither raises
    assert score_proxies(arch, images)["jacob_cov"] == -math.inf
