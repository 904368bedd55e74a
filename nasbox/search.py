"""The search: an Optuna study over a space's genotypes, scored on accuracy and costs.

Every trial samples a genotype, checks it analytically (shape, parameters, MACs against
the constraints), measures its latency on a fresh copy, counts its MACs with fvcore (and
thop beside it), trains it briefly and scores it on the validation split. A genotype that
the study already scored at the same fidelity is not trained again: its metrics are
reused and the trial is marked as a repeat. A candidate that breaks a constraint is
recorded as infeasible (Optuna's ``trial.set_constraint``) and never trained; one that
fails (exception, NaN loss, out of memory) becomes a FAIL trial with its reason, and the
search goes on.

``budget`` counts the trials of the whole study that ended with a result (complete,
repeat, infeasible) or with a failure of the candidate itself; trials lost to an
interruption, a killed worker or a race between workers are not counted, so re-running
the same command resumes until exactly ``budget`` trials are counted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from nasbox.errors import ConfigError, NasboxError, ShapeError, StorageError, TrainingError
from nasbox.files import atomic_write
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.pareto import non_dominated_mask
from nasbox.results import pareto_dataframe, trials_dataframe, write_outputs
from nasbox.space import SearchSpace, get_space
from nasbox.storage import (
    GRACE_BEATS,
    LOST,
    Heartbeat,
    count_finished,
    fail_stale_trials,
    open_storage,
    settle_stale_trials,
    worker_identity,
)

if TYPE_CHECKING:
    from nasbox.latency_model import LatencyTable

__all__ = [
    "OBJECTIVES",
    "SAMPLERS",
    "SearchConfig",
    "SearchResult",
    "make_sampler",
    "run_search",
    "trials_dataframe",
]

# objective -> (direction, user attribute holding it)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "accuracy": ("maximize", "accuracy"),
    "macs": ("minimize", "macs"),
    "flops": ("minimize", "flops"),
    "params": ("minimize", "params"),
    "latency": ("minimize", "latency_ms"),
}
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
    batch_size: int = 32
    lr: float = 0.1
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
    early_stop: bool = False
    early_stop_eta: int = 3
    prescreen: int = 0  # proposals scored with zero-cost proxies per trained trial (0 or 1: no pre-screening)

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
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"--epochs must be positive, got {self.epochs}")
        if self.iterations is not None and self.iterations < 1:
            raise ConfigError(f"--iterations must be >= 1, got {self.iterations}")
        if not isinstance(self.heartbeat_s, int) or self.heartbeat_s < 1:
            raise ConfigError(f"--heartbeat must be a whole number of seconds >= 1, got {self.heartbeat_s}")
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
        if self.latency not in LATENCY_MODES:
            raise ConfigError(f"--latency must be one of {', '.join(LATENCY_MODES)}, got {self.latency!r}")
        if self.subset is not None and self.subset < 10:
            raise ConfigError(f"--subset must be at least 10 images, got {self.subset}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"validation fraction must lie in (0, 1), got {self.val_fraction}")

    def default_epochs(self) -> SearchConfig:
        """Fill in the per-candidate budget and augmentation when they are not given."""
        out = self
        if out.epochs is None and out.iterations is None:
            out = replace(out, epochs=DEFAULT_EPOCHS.get(out.dataset, 1.0))
        if out.augment is None:
            out = replace(out, augment=out.dataset not in NO_AUGMENT)
        return out


# Per-candidate training when none is given: enough to rank candidates on the bundled
# data within the 10-minute CPU target of the default search.
DEFAULT_EPOCHS = {"mnist5k": 2.0, "synthetic": 1.0, "cifar10": 1.0, "imagefolder": 2.0}
# Datasets searched without augmentation by default: on 28x28 digits a random crop with
# 4 pixels of padding costs 1-2 points of accuracy in a 1-2 epoch run (measured on mnist5k).
NO_AUGMENT = frozenset({"mnist5k", "synthetic"})


@dataclass
class SearchResult:
    """What a search produced: every trial as a DataFrame, and the Pareto-optimal ones."""

    study_name: str
    storage: str
    report_dir: Path
    trials: pd.DataFrame
    pareto: pd.DataFrame
    objectives: tuple[str, ...]
    files: list[Path]
    interrupted: bool = False

    @property
    def best_accuracy(self) -> float | None:
        done = self.trials[self.trials["status"].isin(["complete", "repeat"])]
        return None if done.empty else float(done["accuracy"].max())


# --------------------------------------------------------------------------- samplers


def make_sampler(name: str, seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    """The seeded sampler for ``--sampler``. ``tpe`` is multi-objective TPE with
    multivariate, grouped densities (handles the spaces' conditional parameters)."""
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate/group are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10,
                                              constant_liar=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, population_size=20)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    raise ConfigError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


# --------------------------------------------------------------------------- the search


ProgressCallback = Callable[[dict[str, Any]], None]


class _Search:
    def __init__(self, config: SearchConfig, progress: ProgressCallback | None) -> None:
        from nasbox.data import load_dataset
        from nasbox.train import TrainConfig, resolve_device

        config.check()
        self.config = config = config.default_epochs()
        self.progress = progress or (lambda event: None)
        self.poll_s = min(2.0, config.heartbeat_s / 2)
        self.grace_s = float(GRACE_BEATS * config.heartbeat_s)  # a RUNNING trial silent this long has lost its worker
        self.device = resolve_device(config.device)
        self.data = load_dataset(config.dataset, data_dir=config.data_dir, download=config.download,
                                 val_fraction=config.val_fraction, subset=config.subset, seed=config.seed,
                                 **config.dataset_options)
        spec = self.data.spec
        self.space: SearchSpace = get_space(config.space, input_shape=spec.input_shape, num_classes=spec.num_classes,
                                            args=config.space_args, toml_file=config.space_config)
        self.train_config = TrainConfig(epochs=config.epochs, iterations=config.iterations,
                                        batch_size=config.batch_size, lr=config.lr, augment=config.augment,
                                        seed=config.seed)
        self.fidelity = self.train_config.fidelity()
        self.fidelity_key = json.dumps(self.fidelity, sort_keys=True)
        self.study_name = config.study or f"{self.space.name}-{config.dataset}"
        self.report_dir = Path(config.reports_dir) / safe_name(self.study_name)
        url = config.storage or os.environ.get("NASBOX_STORAGE") or None
        self.storage, self.storage_display = open_storage(url, self.report_dir, config.heartbeat_s)
        self.study = self._open_study()
        self.data = self.data.to(self.device)

    # ---- study setup
    def _setup_attrs(self) -> dict[str, Any]:
        c = self.config
        return {
            "objectives": list(c.objectives),
            "space": self.space.name,
            "space_bounds": _jsonable(self.space.bounds()),
            "dataset": c.dataset,
            "input_shape": list(self.data.spec.input_shape),
            "num_classes": self.data.spec.num_classes,
            "fidelity": self.fidelity,
        }

    def _open_study(self) -> optuna.Study:
        c = self.config
        directions = [OBJECTIVES[o][0] for o in c.objectives]
        try:
            existing = optuna.study.get_all_study_names(self.storage)
        except Exception as exc:  # storage backends raise many kinds of errors
            raise StorageError(f"cannot read storage {self.storage_display}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        setup = self._setup_attrs()
        if self.study_name in existing:
            # A resumed sampler is seeded with the trials already there: reseeding with the
            # same seed would replay the first run's random start-up samples.
            probe = optuna.load_study(study_name=self.study_name, storage=self.storage)
            sampler = make_sampler(c.sampler, c.seed + len(probe.get_trials(deepcopy=False)), len(directions))
            study = optuna.load_study(study_name=self.study_name, storage=self.storage, sampler=sampler)
            _check_same_setup(study.user_attrs.get("setup", {}), setup, f"study {self.study_name!r} in "
                              f"{self.storage_display}")
            return study
        self.report_dir.mkdir(parents=True, exist_ok=True)
        sampler = make_sampler(c.sampler, c.seed, len(directions))
        study = optuna.create_study(study_name=self.study_name, storage=self.storage, sampler=sampler,
                                    directions=directions, load_if_exists=True)
        study.set_user_attr("setup", setup)
        study.set_user_attr("config", _jsonable({**asdict(c), "space": self.space.name,
                                                 "storage": self.storage_display}))
        return study

    # ---- one trial
    def _find_repeat(self, arch_id: str, number: int) -> FrozenTrial | None:
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            a = t.user_attrs
            if (t.number != number and a.get("arch_id") == arch_id and a.get("fidelity_key") == self.fidelity_key
                    and a.get("status") == "complete"):
                return t
        return None

    def _constraints(self, trial: optuna.Trial, metrics: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
        """Set the trial's constraints among ``keys`` whose metric is known; return the broken ones."""
        c = self.config
        broken = []
        for key, metric in _LIMITS:
            limit = getattr(c, key)
            if key not in keys or limit is None or metric not in metrics:
                continue
            excess = float(metrics[metric]) - float(limit)
            trial.set_constraint(key, excess)
            if excess > 0:
                broken.append(f"{metric} {metrics[metric]:,.6g} > {limit:,.6g}")
        return broken

    def _values(self, metrics: dict[str, Any]) -> list[float]:
        return [float(metrics.get(OBJECTIVES[o][1], float("inf"))) for o in self.config.objectives]

    def run_trial(self, trial: optuna.Trial, index: int) -> dict[str, Any]:
        import torch

        from nasbox.measure import count_macs, count_macs_thop, measure_latency
        from nasbox.model.build import build_model
        from nasbox.train import train_model

        trial.set_user_attr("device", str(self.device))
        trial.set_user_attr("fidelity", self.fidelity)
        trial.set_user_attr("fidelity_key", self.fidelity_key)
        arch = self.space.sample(trial)
        trial.set_user_attr("arch_id", arch.arch_id)
        trial.set_user_attr("encoding", arch.encode())
        self._save_arch(arch)
        self.progress({"event": "trial_start", "number": trial.number, "index": index, "encoding": arch.encode()})
        info = analyze(arch)  # ShapeError for a user space's invalid sample: a FAIL trial
        metrics: dict[str, Any] = {"params": info.params, "macs": info.macs, "flops": info.flops}
        broken = self._constraints(trial, metrics, _ANALYTIC)
        if broken:
            return self._finish(trial, metrics, "infeasible", {"infeasible": "; ".join(broken), "accuracy": 0.0})
        repeat = self._find_repeat(arch.arch_id, trial.number)
        if repeat is not None:
            reused = {k: repeat.user_attrs[k] for k in _METRIC_ATTRS if k in repeat.user_attrs}
            metrics.update(reused)
            self._constraints(trial, metrics, _MEASURED)
            return self._finish(trial, metrics, "repeat", {"repeat_of": repeat.number})
        model = build_model(arch, seed=_init_seed(arch.arch_id, self.config.seed))
        t0 = time.perf_counter()
        if self.config.latency == "predict":
            predicted = self.latency_table.predict(arch, model)
            metrics.update(latency_ms=predicted.ms, latency_source="predicted", latency_units_measured=predicted.new_units)
        else:
            latency = measure_latency(model, arch.input_shape, device=self.device, threads=self.config.latency_threads)
            metrics.update(latency_ms=latency.median_ms, latency_iqr_ms=latency.iqr_ms, latency_threads=latency.threads,
                           latency_source="measured")
        t1 = time.perf_counter()
        metrics["macs_fvcore"] = count_macs(model, arch.input_shape)
        metrics["macs_thop"] = count_macs_thop(model, arch.input_shape)
        metrics.update(latency_seconds=t1 - t0, count_seconds=time.perf_counter() - t1)
        broken = self._constraints(trial, metrics, _MEASURED)
        if broken:
            return self._finish(trial, metrics, "infeasible", {"infeasible": "; ".join(broken), "accuracy": 0.0})
        spec = self.data.spec
        result = train_model(model, self.data.train, self.data.val, self.train_config, spec, device=self.device,
                             rungs=self._rungs(trial, metrics))
        del model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        metrics.update(accuracy=result.accuracy, train_loss=result.loss, train_seconds=result.seconds,
                       iterations=result.budget.iterations, epochs=result.budget.epochs,
                       images_per_second=result.images_per_second, precision=result.precision)
        if result.stopped_at is not None:
            return self._finish(trial, metrics, "stopped", {"stopped_at": result.stopped_at})
        return self._finish(trial, metrics, "complete", {})

    @functools.cached_property
    def latency_table(self) -> LatencyTable:
        """This device's per-block latency table (``--latency predict`` and pre-screening)."""
        from nasbox.latency_model import LatencyTable

        return LatencyTable.open(self.device, threads=self.config.latency_threads)

    def _ask(self) -> optuna.Trial:
        """The next trial: the sampler's proposal, or with ``--prescreen K`` the most
        promising of K proposals (see :meth:`_prescreen`)."""
        if self.config.prescreen <= 1:
            return self._claim(self.study.ask())
        return self._prescreen([self._claim(self.study.ask()) for _ in range(self.config.prescreen)])

    def _claim(self, trial: optuna.Trial) -> optuna.Trial:
        """Make a new trial this worker's: its heartbeat starts, then it records the worker.
        Killed in between, it is settled by its heartbeat; killed before, by its missing worker."""
        self.beat.hold(trial)
        trial.set_user_attr("worker", worker_identity())
        return trial

    def _prescreen(self, proposals: list[optuna.Trial]) -> optuna.Trial:
        """Zero-cost pre-screening: score the sampler's K proposals with the proxies
        (synflow, NASWOT, jacob_cov) on one batch, without training, and keep the first
        proposal that no other one dominates on (mean proxy rank, and the study's cost
        objectives known before training: MACs and params from the genotype, latency from
        the device's lookup table); genotypes over a MACs or params limit go last. The others are told
        FAIL with status ``screened`` and their scores: they do not count toward the budget and
        the samplers ignore them. Every proposal keeps its proxy scores."""
        from nasbox.data import eval_batches
        from nasbox.proxies import DEFAULT_PROXIES, mean_proxy_ranks, score_proxies

        c = self.config
        if not hasattr(self, "_proxy_batch"):
            self._proxy_batch = next(eval_batches(self.data.train, self.data.spec, 64, device=self.device))[0]
        # the costs among the objectives known before training: MACs, params, and latency from the predictor
        costs = [OBJECTIVES[o][1] for o in c.objectives if OBJECTIVES[o][1] in (*_ANALYTIC_METRICS, "latency_ms")]
        scores, points, usable = [], [], []
        for trial in proposals:
            try:
                arch = self.space.sample(trial)
                info = analyze(arch)
            except (ShapeError, NasboxError, ValueError):
                scores.append({n: -math.inf for n in DEFAULT_PROXIES})
                points.append(None)
                continue
            metrics = {"params": info.params, "macs": info.macs, "flops": info.flops}
            attrs = {"arch_id": arch.arch_id, "encoding": arch.encode(), **metrics}
            if "latency_ms" in costs:
                metrics["latency_ms"] = attrs["latency_predicted_ms"] = self.latency_table.predict(arch).ms
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            scores.append(score_proxies(arch, self._proxy_batch, seed=_init_seed(arch.arch_id, c.seed)))
            points.append([metrics[m] for m in costs])
            if not any(getattr(c, key) is not None and metrics[m] > getattr(c, key) for key, m in _LIMITS
                       if key in _ANALYTIC):
                usable.append(len(points) - 1)
        ranks = mean_proxy_ranks(scores)
        pool = usable or [i for i, p in enumerate(points) if p is not None]
        on_front: set[int] = set()
        if pool:
            mask = non_dominated_mask([[ranks[i], *points[i]] for i in pool], ["maximize", *["minimize"] * len(costs)])
            on_front = {i for i, keep in zip(pool, mask, strict=True) if keep}
        chosen = min(on_front, default=0)  # none valid: the first, which then fails as a trial of its own
        for i, trial in enumerate(proposals):
            trial.set_user_attr("proxies", scores[i])
            trial.set_user_attr("prescreen", {"proposals": len(proposals), "proxy_rank": float(ranks[i]),
                                              "chosen": i == chosen, "on_front": i in on_front})
            if i != chosen:
                trial.set_user_attr("status", "screened")
                trial.set_user_attr("fail_reason", f"screened out by --prescreen: trial #{proposals[chosen].number} "
                                                   "was more promising")
                self.study.tell(trial, state=TrialState.FAIL)
                self.beat.release(trial)
        return proposals[chosen]

    def _rungs(self, trial: optuna.Trial, metrics: dict[str, Any]) -> dict | None:
        """Early-stopping rungs (``--early-stop``): stop where the candidate is clearly
        dominated on (accuracy at the rung, costs) by the candidates that reached it before."""
        from nasbox.early_stop import ParetoEarlyStopper, make_rung_callbacks, rung_iterations
        from nasbox.train import resolve_budget

        c = self.config
        if not c.early_stop or "accuracy" not in c.objectives:
            return None
        costs = [OBJECTIVES[o][1] for o in c.objectives if o != "accuracy"]
        total = resolve_budget(len(self.data.train), c.batch_size, epochs=c.epochs, iterations=c.iterations).iterations
        stopper = ParetoEarlyStopper(reduction_factor=c.early_stop_eta, cost_names=costs)
        return make_rung_callbacks(trial, stopper, rung_iterations(total), {n: metrics[n] for n in costs},
                                   self.data.val, self.data.spec, self.train_config, device=self.device)

    def _finish(self, trial: optuna.Trial, metrics: dict[str, Any], status: str, extra: dict[str, Any]) -> dict:
        metrics = {**metrics, **extra}
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("status", status)
        values = self._values(metrics)
        if status == "stopped":  # stopped early: PRUNED, which every sampler handles, with no values
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, values)
        return {"status": status, "values": values, **metrics}

    def _save_arch(self, arch: Architecture) -> None:
        folder = self.report_dir / "archs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{arch.arch_id}.json"
        if not path.exists():
            atomic_write(path, arch.to_json(indent=2) + "\n")

    # ---- the loop
    def run(self) -> SearchResult:
        with Heartbeat(self.study) as self.beat:
            return self._loop()

    def _loop(self) -> SearchResult:
        c = self.config
        settled = settle_stale_trials(self.study, self.grace_s)
        start = time.perf_counter()
        done_here = 0
        self.progress({"event": "start", "study": self.study_name, "storage": self.storage_display,
                       "report_dir": str(self.report_dir), "budget": c.budget, "device": str(self.device),
                       "space": self.space.name, "dataset": c.dataset, "settled": settled,
                       "finished": count_finished(self.study.get_trials(deepcopy=False)),
                       "fidelity": self.fidelity, "budget_text": self._budget_text(),
                       "n_train": len(self.data.train), "n_val": len(self.data.val)})
        interrupted = False
        while True:
            fail_stale_trials(self.study)
            trials = self.study.get_trials(deepcopy=False)
            finished = count_finished(trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if finished >= c.budget:
                break
            if finished + running >= c.budget:
                # Other workers hold the last trials; wait for them, settling any whose worker
                # died (its trial would otherwise keep the budget from being reached).
                settle_stale_trials(self.study, self.grace_s)
                time.sleep(self.poll_s)
                continue
            trial = self._ask()
            before = [t for t in self.study.get_trials(deepcopy=False) if t.number < trial.number]
            finished_before = count_finished(before)
            if finished_before + sum(t.state == TrialState.RUNNING for t in before) >= c.budget:
                trial.set_user_attr(LOST, "surplus: the budget was reached by other workers")
                self.study.tell(trial, state=TrialState.FAIL)
                self.beat.release(trial)
                continue
            index = finished_before + 1
            t0 = time.perf_counter()
            try:
                outcome = self._run_one(trial, index)
            except KeyboardInterrupt:
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                    trial.set_user_attr(LOST, "interrupted")
                    self.study.tell(trial, state=TrialState.FAIL)
                interrupted = True
                break
            done_here += 1
            elapsed = time.perf_counter() - start
            finished_now = count_finished(self.study.get_trials(deepcopy=False))
            per_trial = elapsed / done_here
            self.progress({"event": "trial_end", "number": trial.number, "index": index, "budget": c.budget,
                           "elapsed": elapsed, "eta": per_trial * max(0, c.budget - finished_now),
                           "seconds": time.perf_counter() - t0, "best_accuracy": self._best_accuracy(),
                           **outcome})
        result = self.result(interrupted)
        self.progress({"event": "done", "elapsed": time.perf_counter() - start, "interrupted": interrupted})
        return result

    def _run_one(self, trial: optuna.Trial, index: int) -> dict[str, Any]:
        """Run one trial to its end: its outcome, a candidate failure (FAIL with its reason),
        or -- when another worker settled it as stale meanwhile -- lost, left as that worker told it."""
        try:
            try:
                return self.run_trial(trial, index)
            except optuna.exceptions.UpdateFinishedTrialError:
                raise
            except (TrainingError, ShapeError, NasboxError, RuntimeError, ValueError, MemoryError) as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
                trial.set_user_attr("fail_reason", reason)
                trial.set_user_attr("status", "failed")  # last: a FAIL counts only with it (storage.trial_status)
                self.study.tell(trial, state=TrialState.FAIL)
                return {"status": "failed", "fail_reason": reason}
        except optuna.exceptions.UpdateFinishedTrialError:
            return {"status": "lost", "lost": "settled by another worker while it ran (its heartbeat was late)"}
        finally:
            self.beat.release(trial)

    def _budget_text(self) -> str:
        from nasbox.train import resolve_budget

        return resolve_budget(len(self.data.train), self.config.batch_size, epochs=self.config.epochs,
                              iterations=self.config.iterations).describe()

    def _best_accuracy(self) -> float | None:
        accs = [t.user_attrs.get("accuracy") for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get("status") in ("complete", "repeat")]
        return max(accs) if accs else None

    def result(self, interrupted: bool = False) -> SearchResult:
        df = trials_dataframe(self.study)
        pareto = pareto_dataframe(self.study, df)
        files = write_outputs(self.report_dir, df, pareto, study=self.study, spec=self.data.spec, device=self.device)
        return SearchResult(self.study_name, self.storage_display, self.report_dir, df, pareto,
                            tuple(self.config.objectives), files, interrupted)


_LIMITS = (("max_params", "params"), ("max_macs", "macs"), ("max_latency_ms", "latency_ms"))  # option, metric
_ANALYTIC_METRICS = ("params", "macs", "flops")  # known from the genotype alone
_ANALYTIC = ("max_params", "max_macs")  # checked from the genotype, before anything is built
_MEASURED = ("max_latency_ms",)  # checked after measuring, before training
_METRIC_ATTRS = ("accuracy", "latency_ms", "latency_iqr_ms", "latency_threads", "latency_source", "macs_fvcore", "macs_thop",
                 "train_loss", "train_seconds", "iterations", "epochs", "images_per_second", "precision")


def _init_seed(arch_id: str, seed: int) -> int:
    return (int(arch_id[:8], 16) ^ seed) & 0x7FFFFFFF


def safe_name(name: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".")
    if not safe:
        raise ConfigError(f"study name {name!r} has no usable characters")
    return safe


def _check_same_setup(old: dict[str, Any], new: dict[str, Any], what: str) -> None:
    """Refuse to resume a study with another setup: objectives, space and bounds, data or
    fidelity (what a trial's scores depend on). A study from before a key was recorded
    passes on that key."""
    for key, value in new.items():
        if key not in old or old[key] == value:
            continue
        if isinstance(value, dict) and isinstance(old[key], dict):
            diff = [k for k in sorted(set(value) | set(old[key])) if old[key].get(k) != value.get(k)]
            was = f"{key} " + ", ".join(f"{k}={old[key].get(k)!r}" for k in diff)
            now = ", ".join(f"{k}={value.get(k)!r}" for k in diff)
        else:
            was, now = f"{key}={old[key]!r}", repr(value)
        raise StorageError(f"{what} was run with {was}, not {now}; use another --study name or the original settings")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def worker_devices(device: str, workers: int) -> list[str]:
    """The device of each of ``workers`` processes: GPUs in turn for ``cuda``/``auto`` on a
    machine with GPUs (``cuda:0``, ``cuda:1``, ...), else ``device`` for all."""
    import torch

    if device in ("cuda", "auto") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(workers)]
    return [device] * workers


def run_search(config: SearchConfig, progress: ProgressCallback | None = None) -> SearchResult:
    """Run (or resume) a search until the study holds ``config.budget`` counted trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return _Search(config, progress).run()
