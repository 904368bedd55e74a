"""Training a supernet: the sandwich rule with in-place distillation (``nasbox supernet train``).

Each step trains the largest subnet on the labels, then the smallest and ``random_subnets`` random ones
on the largest's predictions (BigNAS's sandwich rule and in-place distillation; Yu et al., 2020),
averaging their gradients in the shared weights before one optimiser step (so that the recipe's learning
rate means what it means for one network). The recipe, the on-device
data path, the per-epoch checkpoint (``weights_only``), resuming and progress are those of full training
(:func:`nasbox.train.full.full_train`): a supernet is checkpointed as its largest subnet's weights, with the
space (spec and bounds) in the recipe, so a resumed run ends with the same weights as an uninterrupted one.
The random subnets of a step are drawn from ``(seed, step)``, so they too are the same after a resume.

After every epoch the largest and the smallest subnets are scored on the validation split after
BatchNorm recalibration (:func:`calibration_batches`, :func:`~nasbox.supernet.weights.recalibrate`).
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from nasbox.data import Data, DatasetSpec, Split, eval_batches
from nasbox.errors import ConfigError
from nasbox.model.arch import Architecture
from nasbox.spaces import SearchSpace, get_space
from nasbox.supernet.elastic import ElasticSpace
from nasbox.supernet.weights import Supernet, recalibrate
from nasbox.train.brief import evaluate
from nasbox.train.checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError, load_checkpoint
from nasbox.train.full import FullTrainConfig, FullTrainResult, Training, full_train
from nasbox.train.recipe import Recipe

__all__ = ["SUPERNET_SOURCE", "SandwichTraining", "SupernetConfig", "calibration_batches", "load_supernet",
           "score_subnet", "space_spec", "train_supernet"]

SUPERNET_SOURCE = "supernet"


@dataclass(frozen=True)
class SupernetConfig(FullTrainConfig):
    """Full training's recipe plus the sandwich rule's settings and the space (filled in by :func:`train_supernet`).

    Args:
        random_subnets: random subnets trained per step besides the largest and the smallest.
        distill: train the other subnets on the largest's predictions (in-place distillation), not the labels.
        calibration_images: training images BatchNorm statistics are re-estimated on before a subnet is scored.
    """

    epochs: int = 10
    random_subnets: int = 2
    distill: bool = True
    calibration_images: int = 256
    space: str = ""
    space_bounds: str = "{}"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.random_subnets, bool) or not isinstance(self.random_subnets, int) or self.random_subnets < 0:
            raise ConfigError(f"random subnets per step must be a whole number >= 0, got {self.random_subnets!r}")
        if not isinstance(self.calibration_images, int) or self.calibration_images < 1:
            raise ConfigError(f"calibration images must be >= 1, got {self.calibration_images!r}")


def space_spec(space: SearchSpace) -> str:
    """How to load ``space``'s class again: its registered name for nasbox's spaces, else ``module:Class``."""
    if type(space).__module__.startswith("search_spaces."):
        return space.name
    return f"{type(space).__module__}:{type(space).__qualname__}"


def calibration_batches(train: Split, spec: DatasetSpec, images: int, *, seed: int, batch_size: int = 256,
                        channels_last: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The BatchNorm calibration batches: ``images`` training images (a fixed draw of ``seed``), without
    augmentation, made once on the split's device."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    index = torch.randperm(len(train), generator=generator)[:images].to(train.device)
    subset = Split(train.images[index], train.labels[index])
    return list(eval_batches(subset, spec, batch_size, channels_last=channels_last))


class SandwichTraining(Training):
    """Full training of a supernet: the sandwich rule per step, the largest and smallest subnets scored per epoch."""

    tests: ClassVar[bool] = False  # a supernet has no one accuracy to test; its subnets are scored by a search
    curves: ClassVar[dict[str, str]] = {"val_accuracy": "largest subnet (val, recalibrated)",
                                        "val_accuracy_smallest": "smallest subnet (val, recalibrated)"}

    def __init__(self, elastic: ElasticSpace, config: SupernetConfig) -> None:
        self.elastic, self.config = elastic, config
        self.smallest = elastic.smallest()
        self.supernet: Supernet | None = None
        self._calibration: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def make_model(self, arch: Architecture, config: FullTrainConfig, ck: Checkpoint | None) -> nn.Module:
        self.supernet = Supernet(self.elastic, seed=config.seed, net=ck.model if ck else None)
        return self.supernet.net

    def subnets(self, step: int) -> list[Architecture]:
        """The smallest and the random subnets of step ``step`` (drawn from the seed and the step alone)."""
        rng = random.Random(f"supernet:{self.config.seed}:{step}")
        return [self.smallest, *(self.elastic.random(rng) for _ in range(self.config.random_subnets))]

    def backward(self, model: nn.Module, recipe: Recipe, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert self.supernet is not None
        step = recipe.scheduler.last_epoch  # the scheduler's step count: restored with it on resume
        subnets = self.subnets(step)
        share = 1.0 / (1 + len(subnets))  # gradients averaged over the subnets: the recipe's lr means the same
        with torch.autocast(recipe.device.type, dtype=torch.bfloat16, enabled=recipe.bf16):
            logits = self.supernet(x)
            loss = recipe.criterion(logits, y)
        (loss * share).backward()
        teacher = F.softmax(logits.detach().float(), dim=1)
        for arch in subnets:
            with torch.autocast(recipe.device.type, dtype=torch.bfloat16, enabled=recipe.bf16):
                out = self.supernet(x, arch)
                if self.config.distill:  # soft cross-entropy against the largest's predictions
                    sub = -(teacher * F.log_softmax(out.float(), dim=1)).sum(1).mean()
                else:
                    sub = recipe.criterion(out, y)
            (sub * share).backward()
        return loss

    def calibration(self, run: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self._calibration is None:
            self._calibration = calibration_batches(run.data.train, run.data.spec, self.config.calibration_images,
                                                    seed=self.config.seed, channels_last=run.recipe.channels_last)
        return self._calibration

    def score(self, run: Any) -> dict[str, float | None]:
        assert self.supernet is not None
        out: dict[str, float | None] = {}
        for key, arch in (("val_accuracy", self.supernet.arch), ("val_accuracy_smallest", self.smallest)):
            out[key] = score_subnet(self.supernet, arch, self.calibration(run), run.data, device=run.device,
                                    bf16=run.recipe.bf16, channels_last=run.recipe.channels_last,
                                    batch_size=self.config.eval_batch_size) if len(run.data.val) else None
        return out


def score_subnet(supernet: Supernet, arch: Architecture, calibration: list[tuple[torch.Tensor, torch.Tensor]],
                 data: Data, *, device: torch.device, bf16: bool, channels_last: bool, batch_size: int = 512) -> float:
    """A subnet's validation accuracy with its inherited weights, BatchNorm recalibrated on ``calibration``
    (the per-epoch scores of supernet training and the ``supernet`` evaluator's)."""
    model = supernet.extract(arch)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    recalibrate(model, calibration)
    return evaluate(model, data.val, data.spec, device=device, batch_size=batch_size, bf16=bf16,
                    channels_last=channels_last)


def train_supernet(space: SearchSpace, data: Data, config: SupernetConfig, out_dir: str | Path,
                   **options: Any) -> FullTrainResult:
    """Train the supernet of ``space`` (bound to ``data``) into ``out_dir/checkpoint.pt``, resuming it there.

    ``options`` are :func:`~nasbox.train.full.full_train`'s (``progress``, ``resume``, ``device``,
    ``command``, ``until_epoch``).

    Raises:
        SpaceError: the space has a choice that is not elastic, or none that is.
        CheckpointError: ``out_dir`` holds another run (another space, bounds, recipe or data).
    """
    space = space.bind(data.spec.input_shape, data.spec.num_classes)
    elastic = ElasticSpace(space)
    config = dataclasses.replace(config, space=space_spec(space),
                                 space_bounds=json.dumps(space.bounds(), sort_keys=True))
    return full_train(elastic.largest(), data, config, out_dir, training=SandwichTraining(elastic, config),
                      source=f"{SUPERNET_SOURCE} of {space.name}", **options)


def load_supernet(path: str | Path) -> tuple[Supernet, Checkpoint]:
    """A trained supernet and its checkpoint (``weights_only``, checked like every nasbox checkpoint).

    Raises:
        CheckpointError: not a supernet's checkpoint, or its space cannot be loaded any more.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    ck = load_checkpoint(path)
    if not (ck.source or "").startswith(SUPERNET_SOURCE) or "space_bounds" not in ck.config:
        raise CheckpointError(f"{path} is a candidate's checkpoint, not a supernet's (see 'nasbox supernet train')")
    try:
        space = get_space(ck.config["space"], input_shape=ck.arch.input_shape, num_classes=ck.arch.num_classes,
                          args=json.loads(ck.config["space_bounds"]))
        supernet = Supernet(ElasticSpace(space), net=ck.model)
    except (ConfigError, ValueError) as exc:
        raise CheckpointError(f"{path}: its space {ck.config['space']!r} cannot be rebuilt: {exc}") from None
    return supernet.eval(), ck
