"""Tests of nasbox.measure.counts: trainable parameters, fvcore's MACs and thop's, against the analysis."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasbox.measure.counts import count_macs, count_macs_thop, count_params
from nasbox.model.analysis import analyze
from nasbox.model.build import build_model
from tests.measure.support import ARCHS, ZOO, arch_by_name, assert_same, snapshot


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
