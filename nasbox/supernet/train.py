"""Training a supernet (``nasbox supernet train``): the sandwich rule, or sampled paths of a one-shot cell.

Elastic spaces (:class:`~nasbox.supernet.elastic.ElasticSpace`): each step trains the largest subnet on the
labels, then the smallest and ``random_subnets`` random ones on the largest's predictions (BigNAS's sandwich
rule and in-place distillation; Yu et al., 2020), averaging their gradients in the shared weights before one
optimiser step (so that the recipe's learning rate means what it means for one network). After every epoch the
largest and the smallest subnets are scored on the validation split after BatchNorm recalibration
(:func:`calibration_batches`, :func:`~nasbox.supernet.weights.recalibrate`).

Cell spaces (:class:`~nasbox.supernet.oneshot.OneShotSpace`, a one-shot supernet whose every edge holds every
op): each step trains ``paths`` uniformly random paths (``sampling="uniform"``, single-path one-shot; Guo et al.,
2020) or ``paths`` groups of paths that each take every op of every edge once (``sampling="fair"``, FairNAS's
strict fairness; Chu et al., 2021), their gradients averaged, or summed as FairNAS sums them, before one
optimiser step; with ``split``, the supernet splits into one sub-supernet per choice of that parameter after
``split_epoch`` epochs (few-shot NAS; Zhao et al., 2021). After every epoch a few fixed random paths are scored
on the validation split after BatchNorm recalibration (their mean is ``val_accuracy``).

The recipe, the on-device data path, the per-epoch checkpoint (``weights_only``), resuming and progress are
those of full training (:func:`nasbox.train.full.full_train`): a supernet is checkpointed as the network of its
largest subnet (elastic) or of its mixed cells (one-shot), with the space (spec and bounds) in the recipe, so a
resumed run ends with the same weights as an uninterrupted one. The subnets or paths of a step are drawn from
``(seed, step)``, so they too are the same after a resume.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from nasbox.data import Data
from nasbox.errors import ConfigError
from nasbox.model.arch import Architecture
from nasbox.spaces import SearchSpace
from nasbox.supernet.checkpoint import ONE_SHOT_SAMPLING, SUPERNET_SOURCE, check_init, init_folder, load_supernet, warm_start
from nasbox.supernet.elastic import ElasticSpace
from nasbox.supernet.oneshot import CellSupernet, OneShotSpace
from nasbox.supernet.weights import Supernet, calibration_batches, score_subnet
from nasbox.train.checkpoint import Checkpoint
from nasbox.train.full import FullTrainConfig, FullTrainResult, Training, full_train
from nasbox.train.recipe import Recipe

__all__ = ["OneShotTraining", "SandwichTraining", "SupernetConfig", "load_supernet", "prepare", "resolve", "space_spec",
           "train_supernet"]

#: the sampling of each kind of supernet when it is ``auto`` (one-shot: what ranked best in bench/RESULTS.md)
DEFAULT_SAMPLING = {"elastic": "sandwich", "one-shot": "fair"}
#: what ``schedule="auto"`` means for an elastic space: the one that ranked best at equal training cost
#: (bench/RESULTS.md, "Supernet": progressive shrinking on CIFAR-10 and mnist5k)
DEFAULT_SCHEDULE = "progressive"

#: the batch size of each kind of supernet when none is given: a one-shot supernet's estimates ranked better at
#: batch 32 than at 64 for the same epochs, fewer CPU minutes (bench/RESULTS.md, "Supernet on NAS-Bench-201")
DEFAULT_BATCH_SIZE = {"elastic": 64, "one-shot": 32}
SCORED_PATHS = 3  # random paths of a one-shot supernet scored after every epoch


@dataclass(frozen=True)
class SupernetConfig(FullTrainConfig):
    """Full training's recipe plus the sandwich rule's settings and the space (filled in by :func:`train_supernet`).

    Args:
        batch_size: images per step; 0: the default of the space's kind (:data:`DEFAULT_BATCH_SIZE`).
        sampling: what a step trains: ``sandwich`` (elastic spaces: the largest, the smallest and
            ``random_subnets`` random subnets), ``uniform`` or ``fair`` (cell spaces: ``paths`` random paths, or
            ``paths`` groups of paths that take every op of every edge once); ``auto``: the default of the space's
            kind (:data:`DEFAULT_SAMPLING`).
        random_subnets: random subnets trained per step besides the largest and the smallest (sandwich).
        schedule: which elastic choices a sandwich step samples: ``all`` of them from the first step, or
            ``progressive`` (Once-for-All's progressive shrinking): the largest subnet alone first, then one kind
            of choice more per phase (:meth:`SandwichTraining.elastic_kinds`); ``auto``:
            :data:`DEFAULT_SCHEDULE` for an elastic space (a cell space has no elastic choices to order).
        paths: random paths (uniform) or groups of fair paths (fair) trained per step.
        accumulate: how the paths' (or the sandwich's subnets') gradients of a step combine: ``mean`` (so that the
            recipe's learning rate means what it means for one network) or ``sum`` (FairNAS: each op gets a whole
            gradient per step, the shared layers the sum of the paths'; BigNAS and Once-for-All sum the sandwich's);
            ``auto``: ``sum`` for fair paths, ``mean`` otherwise.
        distill: train the other subnets on the largest's predictions (in-place distillation), not the labels
            (sandwich only: a one-shot supernet has no largest subnet).
        affine_bn: the one-shot cells' BatchNorms learn a scale and shift (default: not).
        split: a parameter of a cell space (``node1.in0``) on which the one-shot supernet splits into one
            sub-supernet per choice after ``split_epoch`` epochs (few-shot NAS; Zhao et al., 2021); a path
            trains and is scored in its own sub-supernet.
        calibration_images: training images BatchNorm statistics are re-estimated on before a subnet is scored.
        init: a trained supernet (folder or checkpoint) of the same space and bounds whose weights this one
            starts from instead of a random initialisation (:func:`warm_start`), with a schedule of its own.
    """

    epochs: int = 10
    batch_size: int = 0
    sampling: str = "auto"
    random_subnets: int = 2
    schedule: str = "auto"
    paths: int = 1
    accumulate: str = "auto"
    distill: bool = True
    affine_bn: bool = False
    split: str = ""
    split_epoch: int = 0
    calibration_images: int = 256
    init: str = ""
    space: str = ""
    space_bounds: str = "{}"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampling not in ("auto", "sandwich", *ONE_SHOT_SAMPLING):
            raise ConfigError(f"sampling must be auto, sandwich, uniform or fair, got sampling={self.sampling!r}")
        if self.schedule not in ("auto", "all", "progressive"):
            raise ConfigError(f"schedule must be auto, all or progressive, got schedule={self.schedule!r}")
        if self.accumulate not in ("auto", "mean", "sum"):
            raise ConfigError(f"accumulate must be auto, mean or sum, got accumulate={self.accumulate!r}")
        if isinstance(self.split_epoch, bool) or not isinstance(self.split_epoch, int) or self.split_epoch < 0:
            raise ConfigError(f"the split epoch must be a whole number >= 0, got split_epoch={self.split_epoch!r}")
        if self.split and self.split_epoch >= self.epochs:
            raise ConfigError(f"a few-shot split after epoch {self.split_epoch} of {self.epochs} never happens; "
                              "split before the last epoch")
        for name in ("random_subnets", "paths"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (name == "paths"):
                raise ConfigError(f"{name.replace('_', ' ')} per step must be a whole number >= {int(name == 'paths')}, "
                                  f"got {name}={value!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 0:
            raise ConfigError(f"batch size must be a whole number >= 1 (0: the default of the space's kind), got "
                              f"batch_size={self.batch_size!r}")
        if not isinstance(self.calibration_images, int) or self.calibration_images < 1:
            raise ConfigError(f"calibration images must be >= 1, got {self.calibration_images!r}")


def space_spec(space: SearchSpace) -> str:
    """How to load ``space``'s class again: its registered name for nasbox's spaces, else ``module:Class``."""
    if type(space).__module__.startswith("search_spaces."):
        return space.name
    return f"{type(space).__module__}:{type(space).__qualname__}"


class SandwichTraining(Training):
    """Full training of a supernet: the sandwich rule per step, the largest and smallest subnets scored per epoch."""

    tests: ClassVar[bool] = False  # a supernet has no one accuracy to test; its subnets are scored by a search
    curves: ClassVar[dict[str, str]] = {"val_accuracy": "largest subnet (val, recalibrated)",
                                        "val_accuracy_smallest": "smallest subnet (val, recalibrated)"}

    def __init__(self, elastic: ElasticSpace, config: SupernetConfig) -> None:
        if config.schedule == "auto":
            raise ValueError("resolve() the config first: it decides what schedule='auto' means")
        self.elastic, self.config = elastic, config
        self.smallest = elastic.smallest()
        self.supernet: Supernet | None = None
        self.epoch = 0  # the epoch being trained (0-based): what progressive shrinking's phase follows
        self._calibration: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def make_model(self, arch: Architecture, config: FullTrainConfig, ck: Checkpoint | None) -> nn.Module:
        self.supernet = Supernet(self.elastic, seed=config.seed, net=ck.model if ck else None)
        if ck is None:
            warm_start(self.supernet, self.config.init)
        self.epoch = ck.epoch if ck else 0
        return self.supernet.net

    def elastic_kinds(self, epoch: int) -> list[str] | None:
        """The kinds a step of ``epoch`` samples: every kind (``None``), or with ``schedule="progressive"`` those of
        its phase: one phase for the largest subnet (resolution elastic) and one more per other kind, each adding
        it (Once-for-All's progressive shrinking, :data:`SHRINK_ORDER`), spread evenly over the epochs so that the
        first epoch trains the largest subnet and the last every choice (with fewer epochs than phases, some
        phases are passed over, never the last)."""
        if self.config.schedule != "progressive":
            return None
        present = self.elastic.present()
        base, added = [k for k in present if k == "resolution"], [k for k in present if k != "resolution"]
        last = self.config.epochs - 1
        phase = len(added) if last <= 0 else math.floor(epoch * len(added) / last + 0.5)
        return base + added[:min(phase, len(added))]

    def subnets(self, step: int) -> list[Architecture]:
        """The smallest and the random subnets of step ``step`` (drawn from the seed and the step alone; under
        progressive shrinking, within the kinds of the epoch's phase)."""
        rng = random.Random(f"supernet:{self.config.seed}:{step}")
        kinds = self.elastic_kinds(self.epoch)
        if kinds is None:
            return [self.smallest, *(self.elastic.random(rng) for _ in range(self.config.random_subnets))]
        if not kinds:  # the first phase: the largest subnet alone
            return []
        return [self.elastic.smallest(kinds), *(self.elastic.random(rng, kinds) for _ in range(self.config.random_subnets))]

    def backward(self, model: nn.Module, recipe: Recipe, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert self.supernet is not None
        step = recipe.scheduler.last_epoch  # the scheduler's step count: restored with it on resume
        subnets = self.subnets(step)
        # averaged over the subnets, so that the recipe's lr means the same; or summed (BigNAS, Once-for-All)
        share = 1.0 if self.config.accumulate == "sum" else 1.0 / (1 + len(subnets))
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
        self.epoch = len(run.history) + 1  # this epoch is done: the next one's phase
        out: dict[str, float | None] = {}
        for key, arch in (("val_accuracy", self.supernet.arch), ("val_accuracy_smallest", self.smallest)):
            out[key] = score_subnet(self.supernet, arch, self.calibration(run), run.data, device=run.device,
                                    bf16=run.recipe.bf16, channels_last=run.recipe.channels_last,
                                    batch_size=self.config.eval_batch_size) if len(run.data.val) else None
        return out


class OneShotTraining(Training):
    """Full training of a one-shot supernet: sampled paths per step, a few fixed random paths scored per epoch."""

    tests: ClassVar[bool] = False
    curves: ClassVar[dict[str, str]] = {"val_accuracy": f"{SCORED_PATHS} random subnets (val, recalibrated; mean)"}

    def __init__(self, space: OneShotSpace, config: SupernetConfig) -> None:
        self.space, self.config = space, config
        rng = random.Random(f"supernet-scored:{config.seed}")
        self.scored = [space.random(rng) for _ in range(SCORED_PATHS)]
        self.supernet: CellSupernet | None = None
        self._calibration: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def make_model(self, arch: Architecture, config: FullTrainConfig, ck: Checkpoint | None) -> nn.Module:
        self.supernet = CellSupernet(self.space, seed=config.seed, net=ck.model if ck else None)
        if ck is None:
            warm_start(self.supernet, self.config.init)  # before a split from the start copies its weights
        if self.space.split and (ck.epoch if ck else 0) >= self.config.split_epoch:
            self.supernet.unmerge(copy=ck is None)  # split from the start, or resumed after the split
        return self.supernet.net

    def paths(self, step: int) -> list[Architecture]:
        """The paths of step ``step`` (drawn from the seed and the step alone)."""
        rng = random.Random(f"supernet:{self.config.seed}:{step}")
        if self.config.sampling == "fair":
            return [arch for _ in range(self.config.paths) for arch in self.space.fair(rng)]
        return [self.space.random(rng) for _ in range(self.config.paths)]

    def backward(self, model: nn.Module, recipe: Recipe, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.supernet is None:
            raise RuntimeError("make_model() must run before backward()")
        paths = self.paths(recipe.scheduler.last_epoch)  # the scheduler's step count: restored with it on resume
        summed = self.config.accumulate == "sum" or (self.config.accumulate == "auto" and self.config.sampling == "fair")
        share = 1.0 if summed else 1.0 / len(paths)
        total = torch.zeros((), device=x.device)
        for arch in paths:
            with torch.autocast(recipe.device.type, dtype=torch.bfloat16, enabled=recipe.bf16):
                loss = recipe.criterion(self.supernet(x, arch), y)
            (loss * share).backward()
            total += loss.detach().float()
        return total / len(paths)

    def score(self, run: Any) -> dict[str, float | None]:
        if self.supernet is None or not len(run.data.val):
            return {"val_accuracy": None}
        if self._calibration is None:
            self._calibration = calibration_batches(run.data.train, run.data.spec, self.config.calibration_images,
                                                    seed=self.config.seed, channels_last=run.recipe.channels_last)
        scores = [score_subnet(self.supernet, arch, self._calibration, run.data, device=run.device, bf16=run.recipe.bf16,
                               channels_last=run.recipe.channels_last, batch_size=self.config.eval_batch_size)
                  for arch in self.scored]
        if self.space.split and len(run.history) + 1 == self.config.split_epoch:
            self.supernet.unmerge()  # the end of the split epoch: after its scores, before its checkpoint
        return {"val_accuracy": sum(scores) / len(scores), "subnets_scored": len(scores)}


def train_supernet(space: SearchSpace, data: Data, config: SupernetConfig, out_dir: str | Path,
                   **options: Any) -> FullTrainResult:
    """Train the supernet of ``space`` (bound to ``data``) into ``out_dir/checkpoint.pt``, resuming it there.

    ``options`` are :func:`~nasbox.train.full.full_train`'s (``progress``, ``resume``, ``device``,
    ``command``, ``until_epoch``).

    Raises:
        SpaceError: the space has a choice that is not elastic, or none that is.
        CheckpointError: ``out_dir`` holds another run (another space, bounds, recipe or data).
    """
    space, shared, config = prepare(space, data, config)
    if isinstance(shared, OneShotSpace):
        return full_train(shared.arch, data, config, out_dir, training=OneShotTraining(shared, config),
                          source=f"{SUPERNET_SOURCE} of {space.name} (one-shot, {config.sampling} paths)", **options)
    return full_train(shared.largest(), data, config, out_dir, training=SandwichTraining(shared, config),
                      source=f"{SUPERNET_SOURCE} of {space.name}", **options)


def prepare(space: SearchSpace, data: Data, config: SupernetConfig
            ) -> tuple[SearchSpace, ElasticSpace | OneShotSpace, SupernetConfig]:
    """``space`` bound to ``data``, what shares weights in it and ``config`` resolved for it (:func:`resolve`), with
    the space's spec and bounds; an ``init`` named as one absolute folder however it was written, and checked
    (before anything is trained or any folder made).

    Raises:
        SpaceError, ConfigError: as :func:`resolve`.
        CheckpointError: ``init`` is no unsplit supernet of this space, bounds, kind and data shape.
    """
    space = space.bind(data.spec.input_shape, data.spec.num_classes)
    shared, config = resolve(space, config)
    config = dataclasses.replace(config, space=space_spec(space),
                                 space_bounds=json.dumps(space.bounds(), sort_keys=True))
    if config.init:
        config = dataclasses.replace(config, init=init_folder(config.init))
        check_init(config, space.input_shape, space.num_classes)
    return space, shared, config


def resolve(space: SearchSpace, config: SupernetConfig) -> tuple[ElasticSpace | OneShotSpace, SupernetConfig]:
    """What shares weights in ``space`` (one-shot cells where the space defines ``one_shot``, else its elastic
    choices) and ``config`` with its sampling resolved for that kind.

    Raises:
        SpaceError: neither (a choice that is not elastic, or none that is).
        ConfigError: a sampling or option of the other kind (fair paths for an elastic space, distillation or
            the sandwich rule for a one-shot one).
    """
    if callable(getattr(space, "one_shot", None)):
        shared: ElasticSpace | OneShotSpace = OneShotSpace(space, affine=config.affine_bn, split=config.split)
        sampling = DEFAULT_SAMPLING["one-shot"] if config.sampling == "auto" else config.sampling
        if sampling not in ONE_SHOT_SAMPLING:
            raise ConfigError(f"space {space.name!r} is a cell space with a one-shot supernet: its paths are sampled "
                              f"uniform or fair, not {sampling}")
        if config.schedule == "progressive":
            raise ConfigError(f"space {space.name!r} is a cell space: progressive shrinking orders elastic choices "
                              "(kernel, depth, width), which it has none of")
        config = dataclasses.replace(config, schedule="all")
        if config.distill:  # the default of the elastic kind: off here, where no largest subnet teaches
            config = dataclasses.replace(config, distill=False)
        if config.accumulate == "auto":
            config = dataclasses.replace(config, accumulate="sum" if sampling == "fair" else "mean")
    else:
        shared = ElasticSpace(space)
        sampling = DEFAULT_SAMPLING["elastic"] if config.sampling == "auto" else config.sampling
        other = (sampling != "sandwich", config.affine_bn, config.paths != 1, bool(config.split))
        if any(other):
            raise ConfigError(f"space {space.name!r} is elastic: its supernet trains with the sandwich rule "
                              "(--random-subnets), not uniform or fair paths, --paths, --affine-bn or --few-shot (cell "
                              "spaces)")
        if config.accumulate == "auto":
            config = dataclasses.replace(config, accumulate="mean")
        if config.schedule == "auto":
            config = dataclasses.replace(config, schedule=DEFAULT_SCHEDULE)
    kind = "one-shot" if isinstance(shared, OneShotSpace) else "elastic"
    return shared, dataclasses.replace(config, sampling=sampling, batch_size=config.batch_size or DEFAULT_BATCH_SIZE[kind])
