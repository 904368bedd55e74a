"""Tests of nasbox.train: budgets in both units, the training loop, evaluation, schedule and devices."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from nasbox.data import DatasetSpec, Split, load_dataset
from nasbox.errors import ConfigError, TrainingError
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.model.build import build_model
from nasbox.train.brief import evaluate, train_model
from nasbox.train.recipe import Budget, TrainConfig, _lr_lambda, _param_groups, resolve_budget, resolve_device, use_bf16

CPU = torch.device("cpu")
SHAPE = (3, 16, 16)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    """10 classes, 415 training and 46 validation images of 3 x 16 x 16."""
    return load_dataset("synthetic", synthetic_shape=SHAPE, synthetic_size=512)


def tiny_arch(num_classes: int = 10, dropout: float = 0.0) -> Architecture:
    head = Head("gap", (FC(16, dropout=dropout),), dropout) if dropout else Head("gap")
    return Architecture(SHAPE, num_classes, stages=(Stage((ConvBlock(8),), Pool("max")),
                                                     Stage((ConvBlock(16),), Pool("max"))), head=head)


class Probe(nn.Module):
    """Wraps a model; records the training flag of every forward call, optionally turns outputs to NaN."""

    def __init__(self, inner: nn.Module, nan_from_call: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.nan_from_call = nan_from_call
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        out = self.inner(x)
        if self.nan_from_call is not None and len(self.modes) >= self.nan_from_call:
            out = out * float("nan")
        return out


def fp32(**kwargs) -> TrainConfig:
    """A CPU-friendly, deterministic fp32 recipe (no autocast, no channels_last, no augmentation)."""
    kwargs.setdefault("batch_size", 32)
    kwargs.setdefault("augment", False)
    return TrainConfig(amp="off", channels_last="off", **kwargs)


# ----------------------------------------------------------------------------- resolve_budget


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


# ----------------------------------------------------------------------------- train_model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_cnn_learns_synthetic_signal(data, seed):
    """60 iterations at batch 32 (1,920 images): >= 0.98 on 20 seeds when calibrated; chance is 0.1."""
    model = build_model(tiny_arch(), seed=seed)
    result = train_model(model, data.train, data.val, fp32(iterations=60, seed=seed), data.spec, device=CPU)
    assert result.accuracy >= 0.7
    assert result.budget.iterations == 60
    assert result.budget.iters_per_epoch == len(data.train) // 32
    assert result.stopped_at is None
    assert result.precision == "fp32"
    assert result.history, "no losses logged"
    steps = [s for s, _ in result.history]
    assert steps == sorted(steps) and steps[-1] == 60
    assert all(math.isfinite(v) for _, v in result.history)
    assert result.loss == result.history[-1][1]
    assert result.history[-1][1] < result.history[0][1]  # the loss went down
    assert result.seconds > 0 and result.images_per_second > 0
    d = result.to_dict()
    assert d["budget"]["iterations"] == 60


def test_epoch_budget_runs_that_many_iterations(data):
    model = Probe(build_model(tiny_arch(), seed=0))
    result = train_model(model, data.train, None, fp32(epochs=1.5), data.spec, device=CPU)
    expected = round(1.5 * (len(data.train) // 32))
    assert result.budget.iterations == expected
    assert len(model.modes) == expected and all(model.modes)
    assert math.isnan(result.accuracy)  # no validation split


def test_bf16_autocast_path_trains(data):
    """amp='bf16' forces autocast (and channels_last in 'auto'), whatever the CPU; losses stay finite."""
    model = build_model(tiny_arch(), seed=0)
    config = TrainConfig(iterations=30, batch_size=32, augment=False, amp="bf16")
    result = train_model(model, data.train, data.val, config, data.spec, device=CPU)
    assert result.precision == "bf16"
    assert all(math.isfinite(v) for _, v in result.history)
    assert 0.0 <= result.accuracy <= 1.0
    conv = model.stage1.block1.conv
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("nan_from_call", [1, 4])
def test_nan_forward_raises_training_error_naming_iteration(data, nan_from_call):
    model = Probe(build_model(tiny_arch(), seed=0), nan_from_call=nan_from_call)
    with pytest.raises(TrainingError, match=rf"\biteration {nan_from_call}\b"):
        train_model(model, data.train, data.val, fp32(iterations=10), data.spec, device=CPU)
    assert len(model.modes) == nan_from_call  # stopped right there, not at the end


def test_nan_weight_raises_training_error(data):
    model = build_model(tiny_arch(), seed=0)
    with torch.no_grad():
        model.head.classifier.weight[0, 0] = float("nan")
    with pytest.raises(TrainingError, match=r"\biteration 1\b"):
        train_model(model, data.train, data.val, fp32(iterations=10), data.spec, device=CPU)


def test_rung_returning_true_stops_there(data):
    calls = []
    model = Probe(build_model(tiny_arch(), seed=0))

    def stop(iteration: int, m: nn.Module) -> bool:
        calls.append((iteration, m))
        return True

    def never(iteration: int, m: nn.Module) -> bool:
        raise AssertionError("a rung after the stop was called")

    result = train_model(model, data.train, data.val, fp32(iterations=20), data.spec, device=CPU,
                         rungs={5: stop, 9: never})
    assert result.stopped_at == 5
    assert calls == [(5, model)]
    assert model.modes == [True] * 5 + [False]  # five training steps, then the validation pass in eval mode
    assert result.budget.iterations == 20  # the requested budget is reported unchanged
    assert 0.0 <= result.accuracy <= 1.0


def test_rung_stop_logs_the_final_loss(data):
    model = build_model(tiny_arch(), seed=0)
    result = train_model(model, data.train, None, fp32(iterations=200), data.spec, device=CPU,
                         rungs={5: lambda i, m: True})
    assert result.stopped_at == 5
    assert result.history[-1][0] == 5


def test_rung_returning_false_continues_in_training_mode(data):
    calls = []
    model = Probe(build_model(tiny_arch(), seed=0))

    def peek(iteration: int, m: nn.Module) -> bool:
        calls.append(iteration)
        evaluate(m, data.val, data.spec, device=CPU)  # one eval batch; leaves the model in eval mode
        return False

    result = train_model(model, data.train, None, fp32(iterations=12), data.spec, device=CPU, rungs={4: peek, 8: peek})
    assert result.stopped_at is None
    assert calls == [4, 8]
    assert result.history[-1][0] == 12
    # every training step ran in training mode, also after the rungs put the model in eval mode
    assert model.modes == [True] * 4 + [False] + [True] * 4 + [False] + [True] * 4


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_is_deterministic(data):
    runs = []
    for _ in range(2):
        model = build_model(tiny_arch(), seed=3)
        config = TrainConfig(iterations=10, batch_size=32, augment=True, amp="off", seed=7)
        result = train_model(model, data.train, data.val, config, data.spec, device=CPU)
        runs.append((state(model), result.history, result.accuracy))
    (a, hist_a, acc_a), (b, hist_b, acc_b) = runs
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert hist_a == hist_b and acc_a == acc_b
    # the seed matters: another data order gives other weights
    model = build_model(tiny_arch(), seed=3)
    train_model(model, data.train, None, TrainConfig(iterations=10, batch_size=32, amp="off", seed=8), data.spec,
                device=CPU)
    assert not torch.equal(state(model)["stage1.block1.conv.weight"], a["stage1.block1.conv.weight"])


def test_training_with_dropout_is_deterministic(data):
    states = []
    for _ in range(2):
        model = build_model(tiny_arch(dropout=0.5), seed=0)
        train_model(model, data.train, None, fp32(iterations=5, seed=0), data.spec, device=CPU)
        states.append(state(model))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


# ----------------------------------------------------------------------------- evaluate


def hand_spec(num_classes: int, n: int) -> DatasetSpec:
    return DatasetSpec(name="synthetic", input_shape=(1, 2, 2), num_classes=num_classes,
                       class_names=tuple(str(k) for k in range(num_classes)), mean=(0.0,), std=(1.0,),
                       train_size=n, val_size=n, test_size=0, hflip=False)


class AlwaysZero(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), self.num_classes)
        logits[:, 0] = 1.0
        return logits


class ReadsLabel(nn.Module):
    """Predicts the label written into the image's pixel value (normalisation is x / 255 here)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        label = (x[:, 0, 0, 0] * 255).round().long()
        return nn.functional.one_hot(label, self.num_classes).float()


@pytest.mark.parametrize("batch_size", [3, 4, 512])
def test_evaluate_constant_predictor_scores_class_share(batch_size):
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 2, 2, 1, 0], dtype=torch.int64)
    split = Split(torch.zeros(len(labels), 1, 2, 2, dtype=torch.uint8), labels)
    spec = hand_spec(3, len(labels))
    accuracy = evaluate(AlwaysZero(3), split, spec, device=CPU, batch_size=batch_size)
    assert accuracy == pytest.approx(4 / 11)


def test_evaluate_keeps_images_and_labels_aligned_across_batches():
    labels = torch.tensor([2, 0, 1, 1, 2, 0, 0, 2, 1, 2], dtype=torch.int64)
    images = labels.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    split = Split(images, labels)
    spec = hand_spec(3, len(labels))
    assert evaluate(ReadsLabel(3), split, spec, device=CPU, batch_size=3) == 1.0
    wrong = Split(images, (labels + 1) % 3)
    assert evaluate(ReadsLabel(3), wrong, spec, device=CPU, batch_size=3) == 0.0


# ----------------------------------------------------------------------------- schedule, param groups


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


# ----------------------------------------------------------------------------- devices, precision


def native_cpu_bf16() -> bool:
    """What torch reports about native bf16 arithmetic on this CPU (AVX-512 BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


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
