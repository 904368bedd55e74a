"""Tests of nasbox.train.recipe: budgets in both units, the schedule, parameter groups, devices and precision."""

from __future__ import annotations

import math
import random
import re

import pytest
import torch
from torch import nn

from nasbox.device import resolve_device
from nasbox.errors import ConfigError
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.model.build import build_model
from nasbox.spaces import get_space
from nasbox.train.recipe import Budget, TrainConfig, _lr_lambda, _param_groups, has_depthwise, numerics, resolve_budget, use_bf16
from tests.train.support import CPU, SHAPE, native_cpu_bf16


def test_budget_design_example_iterations_to_epochs():
    """1,840 samples at batch 8: 230 iterations per epoch; 4,000 iterations are 17.39 epochs (17.4)."""
    b = resolve_budget(1840, 8, iterations=4000)
    assert b == Budget(iterations=4000, epochs=4000 / 230, iters_per_epoch=230, batch_size=8)
    assert b.epochs == pytest.approx(17.3913, abs=1e-4)
    assert int(b.epochs) == 17  # 17 full epochs
    text = b.describe()
    assert "17.4 epochs" in text
    assert "4,000 iterations" in text
    assert "230 iterations per epoch" in text
    assert "batch 8" in text


@pytest.mark.parametrize(("epochs", "iterations"), [
    (1, 230), (17.4, 4002), (1.5, 345), (0.1, 23), (2.5, 575), (0.3, 69), (0.001, 1), (1e-9, 1),
])
def test_budget_epochs_to_iterations(epochs, iterations):
    b = resolve_budget(1840, 8, epochs=epochs)
    assert b.iterations == iterations
    assert isinstance(b.iterations, int)
    assert b.iters_per_epoch == 230
    assert b.epochs == pytest.approx(iterations / 230)
    assert "iterations" in b.describe() and "epochs" in b.describe()


def test_budget_partial_batch_is_dropped_and_an_epoch_is_at_least_one_iteration():
    assert resolve_budget(1847, 8, epochs=1).iterations == 230  # 1847 // 8
    assert resolve_budget(5, 8, epochs=2).iters_per_epoch == 1  # fewer samples than a batch


@pytest.mark.parametrize("kwargs", [
    {},  # neither
    {"epochs": 1, "iterations": 10},  # both
    {"epochs": 1, "batch_size": 0},
    {"iterations": 10, "batch_size": -4},
    {"epochs": 0},
    {"epochs": -1.5},
    {"epochs": float("nan")},
    {"iterations": 0},
    {"iterations": -3},
])
def test_budget_rejects_bad_input(kwargs):
    batch_size = kwargs.pop("batch_size", 8)
    with pytest.raises(ConfigError):
        resolve_budget(1840, batch_size, **kwargs)


def test_budget_rejects_empty_training_split():
    with pytest.raises(ConfigError, match="empty"):
        resolve_budget(0, 8, epochs=1)


def test_budget_rejects_infinite_epochs():
    with pytest.raises(ConfigError):
        resolve_budget(1840, 8, epochs=float("inf"))


def test_budget_rejects_fractional_iterations():
    with pytest.raises(ConfigError):
        resolve_budget(1840, 8, iterations=2.5)


@pytest.mark.parametrize(("total", "fraction"), [(100, 0.1), (57, 0.2), (1000, 0.05)])
def test_lr_warmup_then_cosine(total, fraction):
    factor = _lr_lambda(total, fraction)
    warmup = round(total * fraction)
    values = [factor(s) for s in range(total)]
    # linear warm-up: equal steps up to exactly 1
    assert values[0] == pytest.approx(1 / warmup)
    assert values[warmup - 1] == pytest.approx(1.0)
    diffs = [values[i + 1] - values[i] for i in range(warmup - 1)]
    assert diffs == pytest.approx([1 / warmup] * (warmup - 1))
    # cosine decay from 1 to ~0, monotone, through 0.5 half-way
    decay = values[warmup:]
    assert decay[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(decay[:-1], decay[1:], strict=True))
    assert values[-1] < 0.01
    assert factor(total) == pytest.approx(0.0, abs=1e-12)
    for s in (warmup, (warmup + total) // 2, total - 1):
        progress = (s - warmup) / (total - warmup)
        assert factor(s) == pytest.approx(0.5 * (1 + math.cos(math.pi * progress)))


def test_lr_schedule_in_the_optimiser():
    """LambdaLR as train_model uses it: the LR of the first step is lr / warmup, of the last ~0."""
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(50, 0.1))
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.02)
    assert max(lrs) == pytest.approx(0.1)
    assert lrs[-1] < 1e-3


def test_weight_decay_skips_norm_parameters_and_biases():
    arch = Architecture(SHAPE, 10, stages=(
        Stage((ConvBlock(8), ConvBlock(8, bn=False)), Pool("max")),
        Stage((ConvBlock(16, bias=True),)),
    ), head=Head("gap", (FC(12),)))
    model = build_model(arch, seed=0)
    frozen = model.stage2.block1.conv.weight
    frozen.requires_grad_(False)
    decay_group, no_decay_group = _param_groups(model, 5e-4)
    assert decay_group["weight_decay"] == 5e-4 and no_decay_group["weight_decay"] == 0.0
    decay = {id(p) for p in decay_group["params"]}
    no_decay = {id(p) for p in no_decay_group["params"]}
    bn = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    biases = {id(p) for n, p in model.named_parameters() if n.endswith(".bias")}
    weights = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))} - {id(frozen)}
    assert bn and biases - bn  # the model has both kinds
    assert no_decay == bn | biases
    assert decay == weights
    assert id(frozen) not in decay | no_decay
    assert sum(p.numel() for g in (decay_group, no_decay_group) for p in g["params"]) == sum(
        p.numel() for p in model.parameters() if p.requires_grad)


def test_use_bf16_explicit_settings():
    for device in (CPU, torch.device("cuda")):
        assert use_bf16(device, "off") is False
        assert use_bf16(device, "bf16") is True


def test_use_bf16_auto_on_cpu_follows_native_support():
    assert use_bf16(CPU, "auto") == native_cpu_bf16()
    assert use_bf16(CPU) == use_bf16(CPU, "auto")


def test_use_bf16_auto_off_on_avx512_without_native_bf16(monkeypatch):
    # Simulate a Skylake-X: AVX-512 (so oneDNN reports bf16 support) but no AVX512_BF16 and no AMX.
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    caps = {**torch.cpu.get_capabilities(), "avx512_f": True, "avx512_bf16": False, "amx_bf16": False,
            "amx_tile": False, "amx_fp16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert use_bf16(CPU, "auto") is False


def test_auto_keeps_a_depthwise_network_in_float32_on_a_cpu_with_native_bf16(monkeypatch):
    """A CPU's bf16 slows depthwise convolutions (bench/memory_format.py --compare precision): ``auto`` trains
    MobileNets and EfficientNets in float32 there, dense networks in bf16; forced settings and CUDA are untouched."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # a CPU with native bf16
    args = {"input_shape": (3, 32, 32), "num_classes": 10}
    rng = random.Random(0)
    mobile = build_model(get_space("mobilenet", **args).sample_random(rng)[1], seed=0)
    efficient = build_model(get_space("efficientnet", **args).sample_random(rng)[1], seed=0)
    dense = build_model(get_space("resnet", **args).sample_random(rng)[1], seed=0)
    assert has_depthwise(mobile) and has_depthwise(efficient) and not has_depthwise(dense)
    assert not any(has_depthwise(build_model(get_space("seed_cnn", **args).sample_random(rng)[1], seed=0))
                   for _ in range(5))
    assert use_bf16(CPU, "auto", mobile) is False and use_bf16(CPU, "auto", efficient) is False
    assert use_bf16(CPU, "auto", dense) is True and use_bf16(CPU, "auto") is True
    assert use_bf16(CPU, "bf16", mobile) is True  # asked for: given
    assert numerics(TrainConfig(epochs=1), CPU, mobile) == (False, True)  # float32, still channels_last
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert use_bf16(torch.device("cuda"), "auto", mobile) is True  # a GPU's bf16 is not the CPU's


def test_resolve_device_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device().type == expected
    assert resolve_device("cpu") == CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_resolve_device_cuda_without_gpu(spec):
    with pytest.raises(ConfigError, match=re.escape(spec)):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["garbage", "gpu", "cuda:x", "", "mps"])
def test_resolve_device_rejects_unknown(spec):
    with pytest.raises(ConfigError):
        resolve_device(spec)


def test_channels_last_is_on_for_cuda_and_every_cpu_in_float32_too_and_off_on_request():
    """``auto``: channels_last on CUDA and on CPUs, whether they train in bf16 or float32 (a CPU's float32
    convolutions run faster in it, bench/memory_format.py); ``off`` keeps NCHW; other devices stay NCHW."""
    for amp in ("off", "bf16", "auto"):
        assert numerics(TrainConfig(epochs=1, amp=amp), CPU) == (use_bf16(CPU, amp), True)
        assert numerics(TrainConfig(epochs=1, amp=amp, channels_last="off"), CPU)[1] is False
    assert numerics(TrainConfig(epochs=1, amp="off"), torch.device("cuda"))[1] is True
    assert numerics(TrainConfig(epochs=1, amp="off"), torch.device("mps"))[1] is False
    assert numerics(TrainConfig(epochs=1, amp="off", channels_last="on"), torch.device("mps"))[1] is True


@pytest.mark.parametrize("space_name", ["seed_cnn", "resnet", "mobilenet", "efficientnet", "nb201", "darts"])
def test_a_float32_step_in_channels_last_is_as_accurate_as_the_nchw_one(space_name):
    """What a CPU without native bf16 now trains in: float32 and channels_last. For every built-in space's block
    kinds (depthwise, dilated, squeeze-and-excitation, pooling, cell ops) on a 32x32 map, the loss and the
    gradients of one step are checked against the same step in float64: channels_last is off by no more than
    NCHW is (3x, or 1e-3), in the whole gradient and in each weight. Float32 alone is off by up to 2.5 % in a
    mobilenet weight, either way (BatchNorm over 4 images); PyTorch's CPU kernels have had layout bugs that are
    off by 100 % and more (see DilatedDepthwiseConv2d)."""
    import random

    from nasbox.spaces.registry import get_space

    space = get_space(space_name, input_shape=(3, 32, 32), num_classes=10,
                      args={"channels": 8, "cells": 1} if space_name == "darts" else {})
    _, arch = space.sample_random(random.Random(3))
    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))

    def step(dtype: torch.dtype, fmt: torch.memory_format) -> tuple[float, dict[str, torch.Tensor]]:
        model = build_model(arch, seed=0).train().to(dtype).to(memory_format=fmt)
        if fmt == torch.channels_last:  # it really is: the weights of its spatial convolutions
            assert any(p.dim() == 4 and p.shape[2] > 1 and p.is_contiguous(memory_format=fmt) and not p.is_contiguous()
                       for p in model.parameters())
        torch.manual_seed(1)  # the same dropout masks
        loss = nn.functional.cross_entropy(model(x.to(dtype).contiguous(memory_format=fmt)), y)
        loss.backward()
        return float(loss), {n: p.grad.double() for n, p in model.named_parameters() if p.grad is not None}

    def error(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], names: list[str]) -> float:
        whole = [torch.cat([g[n].flatten() for n in names]) for g in (a, b)]
        return float((whole[0] - whole[1]).norm() / whole[1].norm())

    loss64, ref = step(torch.float64, torch.contiguous_format)
    loss_nchw, nchw = step(torch.float32, torch.contiguous_format)
    loss_cl, cl = step(torch.float32, torch.channels_last)
    assert cl.keys() == ref.keys() and ref
    assert all(torch.isfinite(g).all() for g in cl.values())
    assert abs(loss_cl - loss64) <= 1e-5 * abs(loss64)
    every = list(ref)
    assert error(cl, ref, every) <= max(3 * error(nchw, ref, every), 1e-3)
    for name in every:
        if ref[name].dim() > 1 and ref[name].norm() > 0:  # (a weight before a zero-initialised BatchNorm scale has none)
            assert error(cl, ref, [name]) <= max(3 * error(nchw, ref, [name]), 1e-3), name
        elif ref[name].dim() > 1:
            assert cl[name].abs().max() <= 1e-6, name
