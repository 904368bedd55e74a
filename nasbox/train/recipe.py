"""The training recipe: budgets, devices, numerics, optimiser, schedule and loss.

The recipe follows the ResNet notes: SGD with momentum 0.9 (Nesterov), a short linear
warm-up to the peak learning rate 0.1 and a cosine decay to zero, weight decay 5e-4 on
weights (not on BatchNorm parameters and biases), label smoothing 0.1, Kaiming init (by
the builder). On CUDA it runs in bf16 autocast with channels_last; on a CPU with native
bf16 support (AVX-512 BF16 / AMX) it does the same for networks without depthwise convolutions
(1.2-1.7x float32's rate there; MobileNets and EfficientNets ran at 0.5-0.7x of it in bf16, so
they train in float32: ``bench/memory_format.py --compare precision``), and on any other CPU
it runs in float32 with channels_last, in which a CPU without native bf16 trained every
built-in space 1.05-1.71x faster than in NCHW (``bench/memory_format.py``).

Vocabulary: *batch size* = samples per step; *iteration* = one step on one batch;
*epoch* = one pass over the training set. A budget is given in epochs or in
iterations, and :func:`resolve_budget` states both: 1,840 samples at batch 8 give 230
iterations per epoch, so 4,000 iterations are 17.4 epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nasbox.errors import ConfigError, TrainingError

__all__ = ['Budget', 'Recipe', 'TrainConfig', 'has_depthwise', 'numerics', 'resolve_budget', 'use_bf16']


@dataclass(frozen=True)
class Budget:
    """A training budget in both units."""

    iterations: int
    epochs: float
    iters_per_epoch: int
    batch_size: int

    def describe(self) -> str:
        return (f"{self.iterations:,} iterations = {self.epochs:.1f} epochs "
                f"({self.iters_per_epoch:,} iterations per epoch at batch {self.batch_size})")


def resolve_budget(n_train: int, batch_size: int, *, epochs: float | None = None,
                   iterations: int | None = None) -> Budget:
    """Turn ``epochs`` or ``iterations`` (exactly one) into both.

    An epoch is ``n_train // batch_size`` iterations (the last, partial batch is
    dropped, at least one iteration).
    """
    if (epochs is None) == (iterations is None):
        raise ConfigError("give the training budget as exactly one of epochs or iterations")
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got batch_size={batch_size}")
    if n_train < 1:
        raise ConfigError("the training split is empty")
    per_epoch = max(1, n_train // batch_size)
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not (math.isfinite(epochs) and epochs > 0):
            raise ConfigError(f"epochs must be a finite number > 0, got epochs={epochs}")
        iters = max(1, round(epochs * per_epoch))
    else:
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be an integer >= 1, got iterations={iterations}")
        iters = iterations
    return Budget(iters, iters / per_epoch, per_epoch, batch_size)


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe and budget (exactly one of ``epochs`` and ``iterations``)."""

    epochs: float | None = None
    iterations: int | None = None
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.1
    augment: bool = True
    amp: str = "auto"  # "auto" | "bf16" | "off"
    channels_last: str = "auto"  # "auto" | "on" | "off"

    def __post_init__(self) -> None:
        if self.amp not in ("auto", "bf16", "off"):
            raise ConfigError(f"amp must be auto, bf16 or off, got amp={self.amp!r}")
        if self.channels_last not in ("auto", "on", "off"):
            raise ConfigError(f"channels_last must be auto, on or off, got channels_last={self.channels_last!r}")
    eval_batch_size: int = 512
    seed: int = 0

    def fidelity(self) -> dict[str, Any]:
        """What defines the training budget (for reusing scores of repeated genotypes)."""
        return {"epochs": self.epochs, "iterations": self.iterations, "batch_size": self.batch_size,
                "lr": self.lr, "augment": self.augment}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def has_depthwise(model: nn.Module) -> bool:
    """Whether ``model`` holds a depthwise convolution (one filter per input channel: MobileNet's, EfficientNet's,
    DARTS' separable ones)."""
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules())


def use_bf16(device: torch.device, amp: str = "auto", model: nn.Module | None = None) -> bool:
    """bf16 autocast: always on CUDA with ``auto``; on a CPU only with native bf16 support, and not for a ``model``
    with depthwise convolutions, which a CPU's bf16 slows instead (``bench/memory_format.py --compare precision``:
    MobileNet and EfficientNet 0.5-0.7x of float32's rate, dense networks 1.2-1.7x, on an AVX-512 BF16 EPYC)."""
    if amp == "off":
        return False
    if amp == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if model is not None and has_depthwise(model):
        return False
    try:  # native bf16 only (AVX-512 BF16 or AMX); emulated bf16 is slower than fp32
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def numerics(config: TrainConfig, device: torch.device, model: nn.Module | None = None) -> tuple[bool, bool]:
    """``(bf16, channels_last)`` for training and evaluating ``model`` with ``config`` on ``device``
    (:func:`use_bf16`): channels_last with ``auto`` on CUDA and on CPUs, in bf16 and in float32 alike (their
    convolution kernels prefer it: ``bench/memory_format.py``), and wherever bf16 is forced."""
    bf16 = use_bf16(device, config.amp, model)
    return bf16, config.channels_last == "on" or (config.channels_last == "auto"
                                                  and (device.type in ("cuda", "cpu") or bf16))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_lambda(total: int, warmup_fraction: float) -> Callable[[int], float]:
    warmup = max(1, int(round(total * warmup_fraction)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


@dataclass
class Recipe:
    """The training recipe made concrete for one model and budget: precision, memory
    format, optimiser, schedule and loss. :func:`train_model` (brief, in iterations) and
    :func:`nasbox.train.full.full_train` (whole epochs, checkpointed) both train through it."""

    bf16: bool
    channels_last: bool
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    criterion: nn.Module
    device: torch.device
    batch_size: int

    @classmethod
    def make(cls, model: nn.Module, config: TrainConfig, total_iterations: int, device: torch.device) -> Recipe:
        """Put ``model`` on ``device`` (channels_last where it pays) and set up its training."""
        if device.type == "cpu":
            # Denormal floats (a dying network's tiny activations and gradients) make x86 CPUs
            # 30x slower; flushing them to zero costs nothing in accuracy.
            torch.set_flush_denormal(True)
        bf16, cl = numerics(config, device, model)
        model.to(device)
        if cl:
            model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(_param_groups(model, config.weight_decay), lr=config.lr, momentum=config.momentum,
                                    nesterov=config.nesterov)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_iterations, config.warmup_fraction))
        criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        return cls(bf16, cl, optimizer, scheduler, criterion, device, config.batch_size)

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of one batch (in the recipe's precision), back-propagated; returns it."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.criterion(model(x), y)
        loss.backward()
        return loss

    def steps(self, model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
              backward: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
              ) -> Iterator[torch.Tensor]:
        """One optimisation step per batch; yields each step's loss (a detached device
        scalar, so the caller decides when to sync). ``backward(model, x, y) -> loss`` computes and
        back-propagates a step's loss (default :meth:`backward`; a supernet's sandwich rule runs several
        subnets). Out of memory -> :class:`TrainingError`."""
        backward = backward or self.backward
        try:
            for x, y in batches:
                self.optimizer.zero_grad(set_to_none=True)
                loss = backward(model, x, y)
                self.optimizer.step()
                self.scheduler.step()
                yield loss.detach().float()
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(f"out of memory on {self.device} at batch size {self.batch_size}; "
                                "lower --batch-size") from None

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"
