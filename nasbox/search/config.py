"""What a search is given (:class:`SearchConfig`) and what it returns (:class:`SearchResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from nasbox.errors import ConfigError
from nasbox.evaluate import evaluator_names
from nasbox.spaces import SearchSpace
from nasbox.study.result import SearchResult
from nasbox.study.schema import OBJECTIVES

__all__ = ["DEFAULT_EPOCHS", "GPU_FIDELITY", "LATENCY_MODES", "NO_AUGMENT", "SAMPLERS", "SearchConfig", "SearchResult",
           "default_fidelity", "scaled_lr"]

SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "gp")
LATENCY_MODES = ("measure", "predict")


@dataclass
class SearchConfig:
    """Everything a search needs; the CLI and :func:`nasbox.search` fill it in."""

    space: str | SearchSpace = "seed_cnn"
    space_args: dict[str, Any] = field(default_factory=dict)
    space_config: str | None = None
    dataset: str = "mnist5k"
    data_dir: str | None = None
    download: bool = False
    subset: int | None = None
    val_fraction: float = 0.1
    dataset_options: dict[str, Any] = field(default_factory=dict)  # e.g. synthetic_shape, synthetic_size
    epochs: float | None = None
    iterations: int | None = None
    batch_size: int | None = None  # None: per dataset and device (default_fidelity)
    lr: float | None = None  # None: 0.1 at batch 32, scaled with the batch size (scaled_lr)
    augment: bool | None = None  # random crop (+ flip where sensible); None: per dataset
    objectives: tuple[str, ...] = ("accuracy", "macs", "params", "latency")
    sampler: str = "tpe"
    seed: int = 0
    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None
    budget: int = 50
    study: str | None = None
    storage: str | None = None
    reports_dir: str = "reports"
    device: str = "auto"
    latency_threads: int = 1
    latency: str = "measure"  # "measure" each candidate, or "predict" it from the device's per-block table
    heartbeat_s: int = 30
    storage_retry_s: float = 240.0  # how long storage calls are retried while a database is unreachable
    early_stop: bool = False
    early_stop_eta: int = 3
    prescreen: int = 0  # proposals scored with zero-cost proxies per trained trial (0 or 1: no pre-screening)
    evaluator: str = "brief"  # what scores a candidate: a registered evaluator's name (nasbox.evaluate)
    confirm: int = 0  # then train this many of its best non-dominated candidates standalone (brief), same study
    classics: bool = True  # measure the classic networks' latency on this device first (cached), for the report
    report_every: int = 10  # rebuild the report while searching after this many trials (0: only at the end) ...
    report_every_s: float = 300.0  # ... or once this many seconds passed since the last one, whichever comes first

    def check(self) -> None:
        """Validate the plain values; raises :class:`ConfigError` naming the bad one."""
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"budget must be a positive number of trials, got {self.budget}")
        if self.epochs is not None and self.iterations is not None:
            raise ConfigError("give either --epochs or --iterations, not both")
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or not self.objectives:
            raise ConfigError(f"unknown objective(s) {', '.join(unknown) or '(none given)'}; "
                              f"choose from {', '.join(OBJECTIVES)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(f"objectives repeat: {', '.join(self.objectives)}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; choose from {', '.join(SAMPLERS)}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"--epochs must be positive, got {self.epochs}")
        if self.iterations is not None and self.iterations < 1:
            raise ConfigError(f"--iterations must be >= 1, got {self.iterations}")
        if not isinstance(self.heartbeat_s, int) or self.heartbeat_s < 1:
            raise ConfigError(f"--heartbeat must be a whole number of seconds >= 1, got {self.heartbeat_s}")
        if not (isinstance(self.storage_retry_s, (int, float)) and self.storage_retry_s > 0):
            raise ConfigError(f"--storage-retry must be a positive number of seconds, got {self.storage_retry_s}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must lie in [0, 2**32), got {self.seed}")
        if self.latency_threads < 1:
            raise ConfigError(f"latency threads must be >= 1, got {self.latency_threads}")
        for name in ("max_params", "max_macs", "max_latency_ms"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {v}")
        if self.prescreen < 0 or self.early_stop_eta < 2:
            raise ConfigError(f"--prescreen must be >= 0 and the early-stop reduction >= 2, got {self.prescreen}, "
                              f"{self.early_stop_eta}")
        if self.evaluator.partition(":")[0] not in evaluator_names():
            raise ConfigError(f"unknown evaluator {self.evaluator!r}; choose from {', '.join(evaluator_names())}")
        if not isinstance(self.confirm, int) or self.confirm < 0:
            raise ConfigError(f"--confirm must be a whole number of candidates >= 0, got {self.confirm!r}")
        if self.confirm and self.evaluator.partition(":")[0] == "brief":
            raise ConfigError("--confirm trains the best candidates standalone after another evaluator (a supernet, "
                              "a table) estimated them; with brief training they already are")
        if self.latency not in LATENCY_MODES:
            raise ConfigError(f"--latency must be one of {', '.join(LATENCY_MODES)}, got {self.latency!r}")
        if not isinstance(self.report_every, int) or self.report_every < 0:
            raise ConfigError(f"--report-every must be a whole number of trials >= 0, got {self.report_every}")
        if not (isinstance(self.report_every_s, (int, float)) and self.report_every_s > 0):
            raise ConfigError(f"--report-every-s must be a positive number of seconds, got {self.report_every_s}")
        if self.subset is not None and self.subset < 10:
            raise ConfigError(f"--subset must be at least 10 images, got {self.subset}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"validation fraction must lie in (0, 1), got {self.val_fraction}")

    def with_defaults(self, device: str | Any) -> SearchConfig:
        """Fill in the per-candidate training (:func:`default_fidelity` on ``device``) and the
        augmentation where they are not given."""
        epochs, iterations, batch_size, lr = default_fidelity(self.dataset, device, subset=self.subset, epochs=self.epochs,
                                                              iterations=self.iterations, batch_size=self.batch_size,
                                                              lr=self.lr)
        augment = self.dataset not in NO_AUGMENT if self.augment is None else self.augment
        return replace(self, epochs=epochs, iterations=iterations, batch_size=batch_size, lr=lr, augment=augment)


# Per-candidate training when none is given: enough to rank candidates on the bundled
# data within the 10-minute CPU target of the default search.
DEFAULT_EPOCHS = {"mnist5k": 2.0, "synthetic": 1.0, "cifar10": 1.0, "imagefolder": 2.0}
# ... and on a GPU, where it differs: (epochs, batch size). A GPU trains a small CNN at batch
# 32 far below its capacity, so it takes a larger batch (the learning rate scaled with it).
# How well brief training ranks candidates grows with its steps (CIFAR-10, batch 256, against
# 10 epochs: Kendall's tau 0.15 at 56 steps, 0.64 at 224, ceiling 0.76; bench/RESULTS.md,
# "Fidelity"): 3 epochs of the 45k split are 525 steps.
GPU_FIDELITY = {"cifar10": (3.0, 256)}
BASE_BATCH, BASE_LR = 32, 0.1


def scaled_lr(batch_size: int) -> float:
    """The peak learning rate for ``batch_size`` when none is given: 0.1 at batch 32, scaled by
    the square root of the batch ratio (0.2 at 128, 0.28 at 256), which keeps the gradient
    noise about constant (Krizhevsky 2014; Hoffer et al. 2017)."""
    return BASE_LR * math.sqrt(batch_size / BASE_BATCH)


def default_fidelity(dataset: str, device: str | Any, *, subset: int | None = None, epochs: float | None = None,
                     iterations: int | None = None, batch_size: int | None = None,
                     lr: float | None = None) -> tuple[float | None, int | None, int, float]:
    """``(epochs, iterations, batch_size, lr)`` with each one not given taken from the defaults
    for ``dataset`` on ``device`` (a ``torch.device`` or its string): :data:`GPU_FIDELITY` on a
    CUDA device where the dataset has one and the whole split is searched (a ``subset`` would
    leave a large batch few steps), else :data:`DEFAULT_EPOCHS` at batch 32; the learning rate
    from :func:`scaled_lr` of the batch size. Searches, the classic networks' scoring and
    benchmarks use it, so all train alike."""
    gpu = GPU_FIDELITY.get(dataset) if str(device).startswith("cuda") and subset is None else None
    if epochs is None and iterations is None:
        epochs = gpu[0] if gpu else DEFAULT_EPOCHS.get(dataset, 1.0)
    if batch_size is None:
        batch_size = gpu[1] if gpu else BASE_BATCH
    return epochs, iterations, batch_size, scaled_lr(batch_size) if lr is None else lr


# Datasets searched without augmentation by default: on 28x28 digits a random crop with
# 4 pixels of padding costs 1-2 points of accuracy in a 1-2 epoch run (measured on mnist5k).
NO_AUGMENT = frozenset({"mnist5k", "synthetic"})
