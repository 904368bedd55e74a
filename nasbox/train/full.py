"""Full training of a chosen candidate: epoch by epoch, checkpointed, resumable, tested once.

``nasbox train`` turns a search's choice into a trained model. :func:`resolve_candidate`
finds the genotype (a study's trial, an architecture JSON file or a zoo network);
:func:`full_train` trains it with the recipe of :mod:`nasbox.train` (SGD + Nesterov
momentum, warm-up and cosine decay over the whole run, label smoothing, bf16 autocast and
channels_last where they pay), scores the *validation* split after every epoch, saves a
checkpoint after every epoch and evaluates the *test* split exactly once, at the end.

A checkpoint (:data:`CHECKPOINT_NAME` in the model's folder) holds tensors and plain data
only, so it loads with ``torch.load(weights_only=True)``: the weights, the optimizer and
scheduler states, the epoch, the RNG states, the genotype as canonical JSON with its
SHA-256, the recipe and dataset as JSON, the per-epoch metrics and the command line. A
rerun of the same command resumes from it; the resumed run ends with the same weights as
an uninterrupted one (bit for bit in fp32 on the same machine).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from nasbox.data import Data, DatasetSpec, DeviceLoader
from nasbox.device import resolve_device
from nasbox.errors import ConfigError, TrainingError
from nasbox.files import atomic_write
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.model.build import build_model
from nasbox.train.brief import evaluate
from nasbox.train.checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from nasbox.train.recipe import Recipe, TrainConfig, resolve_budget

__all__ = ["Busy", "FullTrainConfig", "FullTrainResult", "Training", "exclusive", "full_train"]

METRICS_NAME = "metrics.json"
CURVE_NAME = "learning_curve.png"
ProgressCallback = Callable[[dict[str, Any]], None]


# --------------------------------------------------------------------------- full training


class Training:
    """What full training trains and scores: by default one network on cross-entropy, scored on the
    validation split after every epoch and on the test split once at the end. A supernet
    (:mod:`nasbox.supernet.train`) trains several subnets per step and scores two of them instead."""

    #: score the test split once, after the last epoch
    tests: ClassVar[bool] = True
    #: history key -> label of the accuracies the learning curve draws
    curves: ClassVar[dict[str, str]] = {"val_accuracy": "validation accuracy"}

    def make_model(self, arch: Architecture, config: FullTrainConfig, ck: Checkpoint | None) -> nn.Module:
        """The module whose parameters the optimiser trains (restored from ``ck`` when resuming)."""
        return ck.model if ck else build_model(arch, seed=config.seed)

    def backward(self, model: nn.Module, recipe: Recipe, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One batch's loss, back-propagated (:meth:`Recipe.backward`)."""
        return recipe.backward(model, x, y)

    def score(self, run: _Run) -> dict[str, float | None]:
        """The metrics recorded after an epoch (``val_accuracy`` at least)."""
        return {"val_accuracy": run.scored(run.data.val) if len(run.data.val) else None}


@dataclass(frozen=True)
class FullTrainConfig(TrainConfig):
    """The recipe of :class:`nasbox.train.TrainConfig` with a budget of whole ``epochs``."""

    epochs: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs must be a whole number >= 1, got epochs={self.epochs!r}")
        if self.iterations is not None:
            raise ConfigError("full training counts whole epochs; leave iterations unset")

    def key(self) -> dict[str, Any]:
        """What a resumed run must share with the checkpoint (all but the evaluation batch size)."""
        return {k: v for k, v in asdict(self).items() if k != "eval_batch_size"}


@dataclass
class FullTrainResult:
    """What :func:`full_train` produced; ``history`` has one dict per epoch trained so far."""

    out_dir: Path
    arch_id: str
    encoding: str
    epochs: int
    start_epoch: int
    history: list[dict[str, Any]]
    test_accuracy: float | None
    finished: bool
    device: str
    command: str | None

    @property
    def val_accuracy(self) -> float | None:
        return self.history[-1]["val_accuracy"] if self.history else None

    @property
    def seconds_per_epoch(self) -> float | None:
        return sum(h["seconds"] for h in self.history) / len(self.history) if self.history else None

    @property
    def checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir), "val_accuracy": self.val_accuracy,
                "seconds_per_epoch": self.seconds_per_epoch}


def _check_resumable(ck: Checkpoint, arch: Architecture, config: FullTrainConfig, spec: DatasetSpec) -> None:
    hint = "rerun with its settings to resume it, start over (--restart), or train into another folder (--name)"
    if ck.arch != arch:
        raise CheckpointError(f"{ck.path} holds genotype {ck.arch.arch_id}, not {arch.arch_id}; {hint}")
    mine = json.loads(json.dumps(config.key()))
    # a setting newer than the checkpoint: it was trained the way the setting's default trains
    defaults = json.loads(json.dumps({f.name: f.default for f in fields(config) if f.default is not MISSING}))
    theirs = {k: ck.config.get(k, defaults.get(k)) for k in mine}
    diff = [f"{k}={theirs[k]!r} (now {mine[k]!r})" for k in mine if theirs[k] != mine[k]]
    if diff:
        raise CheckpointError(f"{ck.path} was trained with {', '.join(diff)}; {hint}")
    if ck.data != json.loads(json.dumps(spec.to_dict())):
        raise CheckpointError(f"{ck.path} was trained on other data ({ck.data.get('name')}, "
                              f"{ck.data.get('train_size')} training images); {hint}")


def full_train(arch: Architecture, data: Data, config: FullTrainConfig, out_dir: str | Path, *,
               progress: ProgressCallback | None = None, resume: bool = True, device: str | torch.device = "auto",
               command: str | None = None, source: str | None = None, until_epoch: int | None = None,
               training: Training | None = None) -> FullTrainResult:
    """Train ``arch`` fully on ``data.train``, checkpointing into ``out_dir`` after every epoch.

    Args:
        progress: receives ``start``, ``step``, ``epoch`` (loss, val accuracy, seconds,
            ETA), ``test`` and ``done`` events as dicts.
        resume: continue from ``out_dir``'s checkpoint (which must match the genotype,
            recipe and data); ``False`` starts over and replaces it.
        command: the command line that reproduces the run, stored with the results.
        until_epoch: stop (checkpointed, unfinished) after this epoch; rerun to go on.
        training: what is trained and scored (:class:`Training`: one network, by default).

    Returns:
        The result; a finished checkpoint is returned as it is, without training or testing again.

    Raises:
        CheckpointError: the checkpoint is tampered with or belongs to another run, or
            another process is training into ``out_dir``.
        TrainingError: the loss became NaN or infinite, or the device ran out of memory.
    """
    emit = progress or (lambda event: None)
    device = resolve_device(device) if isinstance(device, str) else device
    spec = data.spec
    if arch.input_shape != spec.input_shape or arch.num_classes != spec.num_classes:
        raise ConfigError(f"genotype is for input {arch.input_shape} with {arch.num_classes} classes, the data has "
                          f"{spec.input_shape} with {spec.num_classes}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with exclusive(out):
        return _full_train(arch, data, config, out, emit, resume, device, command, source, until_epoch,
                           training or Training())


class Busy(CheckpointError):
    """Another process trains into the folder (it holds its lock): workers sharing a list of networks move on."""


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` (an advisory ``flock``, released by the OS if the process dies) for the run."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    with open(out / ".lock", "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another process is training into {out}; wait for it, stop it, or train into "
                       "another folder (--name)") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@dataclass
class _Run:
    """What the epochs of one full run share."""

    arch: Architecture
    data: Data
    config: FullTrainConfig
    out: Path
    emit: ProgressCallback
    device: torch.device
    command: str | None
    source: str | None
    model: nn.Module
    recipe: Recipe
    loader: DeviceLoader
    history: list[dict[str, Any]]
    test_acc: float | None
    training: Training

    @property
    def precision(self) -> str:
        return self.recipe.precision

    def scored(self, split: Any) -> float:
        r = self.recipe
        return evaluate(self.model, split, self.data.spec, bf16=r.bf16, channels_last=r.channels_last,
                        batch_size=self.config.eval_batch_size, device=self.device)


def _full_train(arch: Architecture, data: Data, config: FullTrainConfig, out: Path, emit: ProgressCallback,
                resume: bool, device: torch.device, command: str | None, source: str | None,
                until_epoch: int | None, training: Training) -> FullTrainResult:
    """:func:`full_train` once the folder is held: resume or start, train, test, save."""
    ck = load_checkpoint(out / CHECKPOINT_NAME) if resume and (out / CHECKPOINT_NAME).exists() else None
    if ck is not None:
        _check_resumable(ck, arch, config, data.spec)
        command, source = command or ck.command, source or ck.source
    start = ck.epoch if ck else 0

    def result(run_history: list[dict[str, Any]], test_acc: float | None, finished: bool) -> FullTrainResult:
        return FullTrainResult(out, arch.arch_id, arch.encode(), config.epochs, start, run_history, test_acc, finished,
                               str(device), command)

    if ck is not None and ck.finished:
        emit({"event": "done", "cached": True, "test_accuracy": ck.test_accuracy, "out_dir": str(out)})
        return result(list(ck.history), ck.test_accuracy, True)
    run = _start(arch, data.to(device), config, out, emit, device, command, source, ck, training)
    cuda = [device] if device.type == "cuda" else []
    t_run = time.perf_counter()
    with torch.random.fork_rng(devices=cuda):  # dropout's RNG: seeded, saved and restored, the caller's untouched
        if ck is None:
            torch.manual_seed(config.seed)
        else:
            torch.set_rng_state(ck.state["rng"]["cpu"])
            if cuda and isinstance(ck.state["rng"].get("cuda"), torch.Tensor):
                torch.cuda.set_rng_state(ck.state["rng"]["cuda"], device)
        for epoch in range(start, config.epochs if until_epoch is None else min(config.epochs, until_epoch)):
            _epoch(run, epoch)
            per_epoch = (time.perf_counter() - t_run) / (epoch + 1 - start)
            emit({"event": "epoch", **run.history[-1], "epochs": config.epochs,
                  "eta": per_epoch * (config.epochs - epoch - 1)})
            if epoch + 1 == config.epochs and run.test_acc is not None:
                emit({"event": "test", "test_accuracy": run.test_acc, "n_test": len(run.data.test)})
    finished = len(run.history) == config.epochs
    if finished:
        write_curve(out / CURVE_NAME, run.history, run.test_acc, training.curves)
    emit({"event": "done", "cached": False, "test_accuracy": run.test_acc, "out_dir": str(out), "finished": finished})
    return result(run.history, run.test_acc, finished)


def _start(arch: Architecture, data: Data, config: FullTrainConfig, out: Path, emit: ProgressCallback,
           device: torch.device, command: str | None, source: str | None, ck: Checkpoint | None,
           training: Training) -> _Run:
    """The model, recipe and loader of a run, restored from ``ck`` when it resumes one."""
    model = training.make_model(arch, config, ck)
    budget = resolve_budget(len(data.train), config.batch_size, epochs=config.epochs)
    recipe = Recipe.make(model, config, budget.iterations, device)
    model.train()
    loader = DeviceLoader(data.train, data.spec, config.batch_size, device=device, augment=config.augment,
                          seed=config.seed, channels_last=recipe.channels_last)
    if ck is not None:
        recipe.optimizer.load_state_dict(ck.state["optimizer"])
        recipe.scheduler.load_state_dict(ck.state["scheduler"])
    emit({"event": "start", "epochs": config.epochs, "start_epoch": ck.epoch if ck else 0, "device": str(device),
          "precision": recipe.precision, "budget_text": budget.describe(), "n_train": len(data.train),
          "n_val": len(data.val), "n_test": len(data.test) if data.test is not None else 0, "out_dir": str(out)})
    return _Run(arch, data, config, out, emit, device, command, source, model, recipe, loader,
                list(ck.history) if ck else [], ck.test_accuracy if ck else None, training)


def _epoch(run: _Run, epoch: int) -> None:
    """Train one epoch, score validation (and, after the last, the test split once), checkpoint."""
    model, recipe, loader, config, device = run.model, run.recipe, run.loader, run.config, run.device
    t0 = time.perf_counter()
    loader.set_epoch(epoch)
    loss = _train_epoch(model, loader, recipe, lambda step: run.emit({"event": "step", "epoch": epoch + 1,
                                                                       "step": step, "steps": len(loader)}),
                        lambda m, x, y: run.training.backward(m, recipe, x, y))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    scores = run.training.score(run)
    model.train()
    run.history.append({"epoch": epoch + 1, "loss": loss, **scores,
                        "lr": recipe.scheduler.get_last_lr()[0], "seconds": seconds,
                        "images_per_second": len(loader) * config.batch_size / seconds, "precision": run.precision,
                        "device": str(device)})
    rng = {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    last = epoch + 1 == config.epochs
    if last and run.training.tests and run.data.test is not None and len(run.data.test):
        run.test_acc = run.scored(run.data.test)  # the only look at the test split
    state = {"model": model.state_dict(), "optimizer": recipe.optimizer.state_dict(),
             "scheduler": recipe.scheduler.state_dict(), "rng": rng}
    _save(run.out, run.arch, config, run.data.spec, epoch + 1, last, run.history, run.test_acc, run.command,
          run.source, state)


def _train_epoch(model: nn.Module, loader: DeviceLoader, recipe: Recipe, on_step: Callable[[int], None],
                 backward: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
    """One pass over ``loader`` with the recipe's steps; returns the mean loss (checked finite)."""
    every = max(1, len(loader) // 20)
    running = torch.zeros((), device=loader.device)
    step = 0
    for loss in recipe.steps(model, loader, backward):
        running += loss
        step += 1
        if step % every == 0:
            on_step(step)
    value = running.item() / max(1, step)
    if not math.isfinite(value):
        raise TrainingError(f"the loss became {value}; lower --lr or check the data")
    return value


def _save(out: Path, arch: Architecture, config: FullTrainConfig, spec: DatasetSpec, epoch: int, finished: bool,
          history: list[dict[str, Any]], test_acc: float | None, command: str | None, source: str | None,
          state: dict[str, Any]) -> None:
    """Write the checkpoint and ``metrics.json``, each atomically (a crash leaves the previous ones)."""

    save_checkpoint(out / CHECKPOINT_NAME, arch, config=config.key(), data=spec.to_dict(), epoch=epoch,
                    finished=finished, history=history, test_accuracy=test_acc, command=command, source=source, **state)
    info = analyze(arch)
    metrics = {"arch_id": arch.arch_id, "encoding": arch.encode(), "source": source, "command": command,
               "finished": finished, "epochs_done": epoch, "epochs": config.epochs,
               "test_accuracy": test_acc, "test_size": spec.test_size,
               "val_accuracy": history[-1]["val_accuracy"] if history else None,
               "seconds_per_epoch": sum(h["seconds"] for h in history) / len(history) if history else None,
               "params": info.params, "macs": info.macs, "history": history, "config": config.key(),
               "dataset": spec.to_dict(), "genotype": arch.to_dict(), "nasbox": importlib.metadata.version("nasbox"),
               "torch": torch.__version__}
    text = json.dumps(metrics, indent=2) + "\n"
    atomic_write(out / METRICS_NAME, text)


def write_curve(path: Path, history: list[dict[str, Any]], test_acc: float | None,
                curves: dict[str, str] | None = None) -> None:
    """Loss and the accuracies of ``curves`` (history key -> label; default the validation accuracy) per
    epoch (matplotlib, Agg canvas, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["loss"] for h in history], "o-", color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (label-smoothed)", color="tab:blue")
    acc = ax.twinx()
    markers = ("s-", "^-", "v-", "d-")
    for i, (key, label) in enumerate((curves or Training.curves).items()):
        acc.plot(epochs, [h.get(key) for h in history], markers[i % len(markers)], color=f"C{i + 1}", label=label)
    if test_acc is not None:
        acc.plot([epochs[-1]], [test_acc], "*", color="tab:red", markersize=12, label=f"test accuracy {test_acc:.4f}")
    acc.set_ylabel("top-1 accuracy", color="tab:orange")
    handles = ax.get_legend_handles_labels()[0] + acc.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right", fontsize="small")
    ax.set_title("learning curve")
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
