"""What a search is given (:class:`SearchConfig`: every option, declared once); what it returns is a
:class:`nasbox.study.result.SearchResult`. This module imports no torch, optuna or pandas: the command line's help
is built from it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from nasbox.errors import ConfigError
from nasbox.search.options import at_least, check_options, fraction, non_empty, one_of, option, positive, seed_range
from nasbox.search.tracking import check_trackers
from nasbox.spaces import SearchSpace, parse_space_args
from nasbox.study.schema import DEFAULT_RETRY_S, OBJECTIVES
from nasbox.zoo import ZOO_NAMES

__all__ = ["DEFAULT_EPOCHS", "GPU_FIDELITY", "LATENCY_MODES", "NO_AUGMENT", "SAMPLERS", "SUPERNET_PRIORS", "SearchConfig",
           "default_fidelity", "scaled_lr"]

SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "gp")
LATENCY_MODES = ("measure", "predict")
SUPERNET_PRIORS = ("auto", "none", "params", "params+synflow")  # nasbox.supernet.prior.PRIORS (that package imports torch)


def _objectives(value: Any) -> str | None:
    names = list(value) if isinstance(value, (tuple, list)) else []
    unknown = [o for o in names if o not in OBJECTIVES]
    problem = (f"unknown objective {', '.join(map(repr, unknown))}" if unknown else "none given" if not names
               else "repeated" if len(set(names)) != len(names) else None)
    return None if problem is None else f"distinct objectives from {', '.join(OBJECTIVES)} ({problem})"


def _classic_names(value: Any) -> str | None:
    names = [n.strip() for n in str(value).split(",") if n.strip()] if isinstance(value, str) else []
    unknown = [n for n in names if n not in ZOO_NAMES and n != "none"]
    return None if names and not unknown else (f"comma-separated names from {', '.join(ZOO_NAMES)}, or none"
                                               + (f" (unknown: {unknown[0]!r})" if unknown else ""))


@dataclass
class SearchConfig:
    """Everything a search needs; each field is one option of ``nasbox search`` and of :func:`nasbox.search`
    (:mod:`nasbox.search.options`: its help, check and flag are declared here once)."""

    space: str | SearchSpace = option("seed_cnn", "space name, path/to/file.py:Class or package.module:Class",
                                      check=lambda v: None if isinstance(v, SearchSpace) else non_empty(v), group="space")
    space_args: dict[str, Any] = option(default_factory=dict, help="set a bound of the space, e.g. m_max=6 or "
                                        "kernels=3,5 (repeatable)", flag="--space-arg", kind="list",
                                        metavar="KEY=VALUE", convert=parse_space_args, group="space")
    space_config: str | None = option(None, "bounds from a TOML file ([space] table)", metavar="FILE.toml", group="space")
    dataset: str = option("mnist5k", "mnist5k (bundled, default), cifar10, imagefolder, synthetic", check=non_empty,
                          group="data")
    data_dir: str | None = option(None, "where the dataset lives (cifar10: holds cifar-10-batches-py/)", group="data")
    download: bool = option(False, "download the dataset if it is missing (cifar10)", kind="switch", group="data")
    subset: int | None = option(None, "search on a stratified subset of N training images", check=at_least(10),
                                metavar="N", group="data")
    val_fraction: float = option(0.1, "validation share of the training set", check=fraction, group="data")
    dataset_options: dict[str, Any] = option(default_factory=dict, help="options of the dataset loader (synthetic: "
                                             "synthetic_shape, synthetic_size)", flag=None, group="data")
    epochs: float | None = option(None, "training per candidate in epochs (default: per dataset and device)",
                                  check=positive, exclusive="budget", group="training")
    iterations: int | None = option(None, "training per candidate in iterations", check=at_least(1),
                                    exclusive="budget", group="training")
    batch_size: int | None = option(None, "training batch size (default: 32, or 256 on a GPU for CIFAR-10's whole "
                                    "split)", check=at_least(1), group="training")
    lr: float | None = option(None, "peak learning rate (default: 0.1 at batch 32, times the square root of "
                              "batch/32)", check=positive, group="training")
    augment: bool | None = option(None, "random crop (+ flip where sensible) while training (default: off for "
                                  "mnist5k, on otherwise)", kind="toggle", group="training")
    objectives: tuple[str, ...] = option(("accuracy", "macs", "params", "latency"), "comma-separated, from "
                                         "accuracy, macs, flops, params, latency", kind="csv", check=_objectives,
                                         metavar="LIST")
    sampler: str = option("tpe", "tpe (multi-objective TPE, default), nsga2, nsga3, random, gp",
                          check=one_of(*SAMPLERS), choices=SAMPLERS)
    seed: int = option(0, "seed of the sampler, the split and the initialisations", check=seed_range)
    max_params: int | None = option(None, "constraint: at most this many parameters (checked before training)",
                                    check=at_least(1), group="constraints")
    max_macs: int | None = option(None, "constraint: at most this many MACs (checked before training)",
                                  check=at_least(1), group="constraints")
    max_latency_ms: float | None = option(None, "constraint: batch-1 latency limit in ms", check=positive,
                                          group="constraints")
    budget: int = option(50, "finished trials of the whole study (a rerun resumes to it)", check=at_least(1))
    study: str | None = option(None, "study name (default: <space>-<dataset>)", check=non_empty, group="storage")
    storage: str | None = option(None, "Optuna storage URL (default: $NASBOX_STORAGE, else a journal file in the "
                                 "report folder)", check=non_empty, group="storage")
    reports_dir: str = option("reports", "where report folders are written", check=non_empty, group="storage")
    device: str = option("auto", "auto, cpu, cuda or cuda:N", check=non_empty)
    latency_threads: int = option(1, "intra-op threads when timing a CPU latency", check=at_least(1), flag=None)
    latency: str = option("measure", "measure each candidate's batch-1 latency, or predict it from a per-block "
                          "lookup table measured once per device (kept in ~/.cache/nasbox/latency)",
                          check=one_of(*LATENCY_MODES), choices=LATENCY_MODES)
    heartbeat_s: int = option(30, "RDB storages: heartbeat interval in seconds; a trial silent for 3x this is lost "
                              "(dead worker)", check=at_least(1), flag="--heartbeat", metavar="SECONDS",
                              group="storage")
    storage_retry_s: float = option(DEFAULT_RETRY_S, "RDB storages: how long a storage call is retried while the database is "
                                    "unreachable (a restart, a failover) before the worker gives up with exit code 2",
                                    check=positive, flag="--storage-retry", metavar="SECONDS", group="storage")
    early_stop: bool = option(False, "stop candidates that are dominated at 1/4 or 1/2 of their training "
                              "(multi-objective ASHA)", kind="switch")
    early_stop_eta: int = option(3, "early stopping's reduction factor: the top 1/eta go on at each rung",
                                 check=at_least(2), flag=None)
    prescreen: int = option(0, "score K of the sampler's proposals per trial with zero-cost proxies (synflow, "
                            "NASWOT, jacob_cov) and train only the most promising; the others are kept as 'screened'",
                            check=at_least(0), metavar="K")
    evaluator: str = option("brief", "what scores a candidate: brief (train briefly, default), supernet:PATH "
                            "(inherited weights of 'nasbox supernet train'; supernet:A,B,... the mean of several), "
                            "table:FILE.csv (a lookup) or a registered evaluator", check=non_empty, metavar="NAME[:ARG]")
    supernet_prior: str = option("auto", "--evaluator supernet: join each estimate with the candidate's parameter count "
                                 "(params), with its parameter count and synflow score (params+synflow), or not (none); "
                                 "auto: params+synflow for a cell space's one-shot supernet, where it ranked NAS-Bench-201 "
                                 "cells best, none for an elastic one", check=one_of(*SUPERNET_PRIORS),
                                 choices=SUPERNET_PRIORS)
    confirm: int = option(0, "after a search with another evaluator, train its K best non-dominated candidates "
                          "standalone (brief training) in the same study, to check the estimates", check=at_least(0),
                          metavar="K")
    final: int | None = option(None, "then the final rung: train K candidates spread along the front and the classic "
                               "networks fully (full training's recipe), testing each once on the test split",
                               check=at_least(1), metavar="K", group="final")
    final_epochs: int = option(30, "epochs of the final rung's full training", check=at_least(1), metavar="E",
                               group="final")
    final_classics: str | None = option(None, "classic networks of the final rung: comma-separated names, or none "
                                        "(default: all that fit the input; on a CPU, those under an hour)",
                                        check=_classic_names, metavar="NAMES", group="final")
    classics: bool = option(True, "measure the classic networks' latency on this device before the first trial "
                            "(once per machine and input, cached), so that the report places them on every cost axis",
                            kind="toggle", group="report")
    report_every: int = option(10, "rebuild the report while searching, after every N trials (0: only at the end)",
                               check=at_least(0), metavar="N", group="report")
    report_every_s: float = option(300.0, "... or once this many seconds passed since the last rebuild",
                                   check=positive, metavar="SECONDS", group="report")
    log: tuple[str, ...] = option((), "log each trial to an experiment tracker: mlflow[:TRACKING_URI] (default: "
                                  "MLflow's, $MLFLOW_TRACKING_URI) or wandb[:PROJECT] (repeatable; pip install "
                                  "'nasbox[mlflow]' or 'nasbox[wandb]')", kind="list", metavar="TRACKER[:WHERE]", convert=tuple,
                                  check=check_trackers, group="report")

    def check(self) -> None:
        """Validate every option (its declared check), then the rules between options; raises
        :class:`ConfigError` naming the bad one."""
        check_options(self)
        if self.confirm and self.evaluator.partition(":")[0] == "brief":
            raise ConfigError("--confirm trains the best candidates standalone after another evaluator (a supernet, "
                              "a table) estimated them; with brief training they already are")
        if self.supernet_prior != "auto" and self.evaluator.partition(":")[0] != "supernet":
            raise ConfigError(f"--supernet-prior {self.supernet_prior} joins a supernet's estimates with a prior; "
                              f"this search scores with --evaluator {self.evaluator}")

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
