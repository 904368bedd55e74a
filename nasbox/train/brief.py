"""Brief training of a candidate (the search's default fidelity) and its evaluation.

:func:`train_model` trains for a budget in iterations with the recipe of
:mod:`nasbox.train.recipe`, on batches sliced from the device-resident data, with
optional early-stopping rungs, and scores the validation split (:func:`evaluate`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from nasbox.data import DatasetSpec, DeviceLoader, Split, eval_batches
from nasbox.errors import TrainingError
from nasbox.train.recipe import Budget, Recipe, TrainConfig, resolve_budget

__all__ = ['RungCallback', 'TrainResult', 'evaluate', 'train_model']


@dataclass
class TrainResult:
    """What a training run produced."""

    accuracy: float
    loss: float
    budget: Budget
    seconds: float
    images_per_second: float
    precision: str
    history: list[tuple[int, float]] = field(default_factory=list)
    stopped_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["budget"] = asdict(self.budget)
        return d


def evaluate(model: nn.Module, split: Split, spec: DatasetSpec, *, device: torch.device,
             batch_size: int = 512, bf16: bool = False, channels_last: bool = False) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (no augmentation)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for x, y in eval_batches(split, spec, batch_size, device=device, channels_last=channels_last):
            correct += (model(x).argmax(1) == y).sum()
    return correct.item() / max(1, len(split))


RungCallback = Callable[[int, "nn.Module"], bool]


def _steps(recipe: Recipe, model: nn.Module, loader: DeviceLoader, iterations: int, rungs: dict[int, RungCallback],
           pause: Callable[[], Any] | None, device: torch.device) -> tuple[int, list[tuple[int, float]], int | None]:
    """The training loop: ``(steps done, loss history, the rung it stopped at or None)``. The loss is read on the
    host at every step on a CPU, every 25 on a GPU (a host sync), and checked to be finite there."""
    check_every = 1 if device.type == "cpu" else 25
    log_every = max(check_every, iterations // 50)
    history: list[tuple[int, float]] = []
    step = window = 0
    value = float("nan")
    running = torch.zeros((), device=device)
    for loss in recipe.steps(model, loader.iterate(iterations)):
        running += loss
        window += 1
        step += 1
        last = step == iterations
        if step % check_every == 0 or last:  # a host sync: rare on GPUs
            value = running.item() / window
            running.zero_()
            window = 0
            if not math.isfinite(value):
                raise TrainingError(f"the loss became {value} at iteration {step}")
            if step % log_every < check_every or last:
                history.append((step, value))
            if pause is not None:
                pause()
        if step in rungs:
            if rungs[step](step, model):
                if not history or history[-1][0] != step:  # log the loss where training stopped
                    history.append((step, running.item() / window if window else value))
                return step, history, step
            model.train()
    return step, history, None


def train_model(
    model: nn.Module,
    train: Split,
    val: Split | None,
    config: TrainConfig,
    spec: DatasetSpec,
    *,
    device: torch.device,
    rungs: dict[int, RungCallback] | None = None,
    pause: Callable[[], Any] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train`` and score it on ``val``.

    Args:
        rungs: ``{iteration: callback(iteration, model) -> stop}``; a callback returning
            True ends training there (early stopping); the result's ``stopped_at`` says so.
        pause: called at every host sync (every step on a CPU, every 25 on a GPU): where training steps
            aside while another process times a latency on the device (:class:`~nasbox.measure.slot.DeviceSlot`).

    Raises:
        TrainingError: the loss became NaN or infinite, or the device ran out of memory.
    """
    budget = resolve_budget(len(train), config.batch_size, epochs=config.epochs, iterations=config.iterations)
    recipe = Recipe.make(model, config, budget.iterations, device)
    bf16, cl = recipe.bf16, recipe.channels_last
    loader = DeviceLoader(train, spec, config.batch_size, device=device, augment=config.augment, seed=config.seed,
                          channels_last=cl)
    t0 = time.perf_counter()
    model.train()
    # dropout draws from the global generator: seed it (in a fork) so a run is reproducible
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        step, history, stopped_at = _steps(recipe, model, loader, budget.iterations, rungs or {}, pause, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    accuracy = float("nan")
    if val is not None:
        accuracy = evaluate(model, val, spec, device=device, batch_size=config.eval_batch_size, bf16=bf16,
                            channels_last=cl)
    last_loss = history[-1][1] if history else float("nan")
    return TrainResult(accuracy, last_loss, budget, seconds, step * config.batch_size / max(seconds, 1e-9),
                       recipe.precision, history, stopped_at)
