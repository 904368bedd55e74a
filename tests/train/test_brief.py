"""Tests of nasbox.train.brief: brief training learns, is deterministic, fails clearly, stops at rungs; evaluation."""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from nasbox.data import DatasetSpec, Split, load_dataset
from nasbox.errors import TrainingError
from nasbox.model.arch import FC, Architecture, Head, Pool, Stage
from nasbox.model.blocks import ConvBlock
from nasbox.model.build import build_model
from nasbox.spaces import get_space
from nasbox.train.brief import evaluate, train_model
from nasbox.train.recipe import TrainConfig
from tests.train.support import CPU, SHAPE

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


def test_auto_precision_on_a_cpu_with_native_bf16_is_float32_for_a_depthwise_network_and_bf16_for_a_dense_one(
        data, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    mobile = build_model(get_space("mobilenet", input_shape=SHAPE, num_classes=10).sample_random(random.Random(0))[1],
                         seed=0)
    config = TrainConfig(iterations=4, batch_size=32, augment=False)  # amp and channels_last "auto"
    assert train_model(mobile, data.train, data.val, config, data.spec, device=CPU).precision == "fp32"
    assert train_model(build_model(tiny_arch(), seed=0), data.train, data.val, config, data.spec,
                       device=CPU).precision == "bf16"


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


