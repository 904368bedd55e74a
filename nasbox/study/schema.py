"""What a study holds: trial statuses, attribute keys, objectives and the files beside it.

Every writer and reader of a study takes its vocabulary from here: the search records a
trial's :class:`Attr` keys and its :class:`TrialStatus`; ``trials.csv``, the report, the
benchmarks and the budget read them back through :func:`trial_status`, the one rule
deciding a trial's status from its Optuna state and what its worker recorded before
``tell``. A study's own attributes (:class:`StudyAttr`) record its setup (what every
trial's scores depend on), its configuration and the facts of its run. :class:`StudyPaths`
names the files of a study's report folder.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, NamedTuple

from nasbox.errors import ConfigError

__all__ = [
    "COUNTED",
    "DEFAULT_RETRY_S",
    "FINAL_CLASSIC",
    "FINAL_SETTINGS",
    "FINAL_TRIAL",
    "JOURNAL_NAME",
    "OBJECTIVES",
    "TRAINED",
    "Attr",
    "Objective",
    "StudyAttr",
    "StudyPaths",
    "TrialStatus",
    "count_finished",
    "counts_toward_budget",
    "lost_reason",
    "report_dir_for",
    "safe_name",
    "trial_status",
]


class TrialStatus(enum.StrEnum):
    """A trial's status as nasbox reports it (equal to its text, e.g. ``"complete"``)."""

    COMPLETE = "complete"  # trained and scored
    REPEAT = "repeat"  # a genotype scored before at the same fidelity: its scores reused
    STOPPED = "stopped"  # stopped early at a rung (Optuna PRUNED)
    INFEASIBLE = "infeasible"  # broke a constraint: never trained
    FAILED = "failed"  # the candidate itself failed (exception, NaN loss, out of memory)
    SCREENED = "screened"  # a pre-screening proposal that was not chosen
    LOST = "lost"  # interrupted, surplus, or its worker died: no result of its own
    RUNNING = "running"


#: statuses of a trial with a result of its own, which counts toward the budget
COUNTED = frozenset({TrialStatus.COMPLETE, TrialStatus.REPEAT, TrialStatus.STOPPED, TrialStatus.INFEASIBLE,
                     TrialStatus.FAILED})
#: statuses of a trial with an accuracy at the study's full fidelity
TRAINED = frozenset({TrialStatus.COMPLETE, TrialStatus.REPEAT})
_ON_COMPLETE = (TrialStatus.COMPLETE, TrialStatus.REPEAT, TrialStatus.INFEASIBLE)
_ON_FAIL = (TrialStatus.FAILED, TrialStatus.SCREENED)
JOURNAL_NAME = "journal.log"  # the embedded storage: Optuna's journal file in the report folder
#: how long a storage call is retried while the database is unreachable (seconds; ``--storage-retry``)
DEFAULT_RETRY_S = 240.0
#: study attributes of the final rung (nasbox.search.final): a finalised trial's record, a classic network's, the rung's
FINAL_TRIAL, FINAL_CLASSIC, FINAL_SETTINGS = "final:trial:", "final:classic:", "final:settings"
_STALE_REASON = "stale: its worker stopped (killed, or its machine lost) before finishing it"


class Attr:
    """User-attribute keys of a trial."""

    STATUS = "status"  # a TrialStatus, recorded last, just before tell
    LOST = "lost"  # why nasbox settled a trial as lost (interrupted, surplus, stale)
    WORKER = "worker"  # {"host", "pid", "pid_start"}: recorded as soon as the trial is asked
    DEVICE = "device"
    EVALUATOR = "evaluator"  # the name of the evaluator that scored it
    FIDELITY = "fidelity"  # what its score depends on (epochs or iterations, batch size, lr, ...)
    FIDELITY_KEY = "fidelity_key"  # the fidelity as canonical JSON, for repeats
    ARCH_ID = "arch_id"
    ENCODING = "encoding"
    ACCURACY = "accuracy"
    MACS = "macs"
    FLOPS = "flops"
    PARAMS = "params"
    LATENCY_MS = "latency_ms"
    LATENCY_IQR_MS = "latency_iqr_ms"
    LATENCY_THREADS = "latency_threads"
    LATENCY_SOURCE = "latency_source"  # "measured" or "predicted"
    LATENCY_CUDA_GRAPH = "latency_cuda_graph"  # on CUDA: timed as a replayed CUDA graph (False: eagerly)
    MACS_FVCORE = "macs_fvcore"
    MACS_THOP = "macs_thop"
    TRAIN_LOSS = "train_loss"
    TRAIN_SECONDS = "train_seconds"
    ITERATIONS = "iterations"
    EPOCHS = "epochs"
    IMAGES_PER_SECOND = "images_per_second"
    PRECISION = "precision"
    SUPERNET_ESTIMATES = "supernet_estimates"  # scored by several supernets: each one's estimate (the accuracy: their mean)
    INHERITED_ACCURACY = "inherited_accuracy"  # with --supernet-prior: the supernet's own estimate, before the prior
    SYNFLOW = "synflow"  # with --supernet-prior params+synflow: the candidate's synflow the prior joined (None: no flow)
    FAIL_REASON = "fail_reason"
    INFEASIBLE = "infeasible"  # the broken constraints, as text
    REPEAT_OF = "repeat_of"
    DISCONNECTED = "disconnected"  # the block whose output ignores its input: scored at chance, not trained
    STOPPED_AT = "stopped_at"
    EARLY_STOP = "early_stop"
    PROXIES = "proxies"
    PRESCREEN = "prescreen"
    LATENCY_PREDICTED_MS = "latency_predicted_ms"
    CONFIRMS = "confirms"  # the trial whose estimated accuracy (a supernet's, a table's) this standalone one checks


class StudyAttr:
    """User-attribute keys of a study."""

    SETUP = "setup"  # what every trial's scores depend on: a resumed study must keep it
    CONFIG = "config"  # the search's configuration (storage URL without password)
    RUN = "run"  # facts of the run a report states: split sizes, library versions, device
    CLASSICS = "classics"  # the classic networks' latency on the search's device: {"device", "models": {...}}
    EVALUATOR = "evaluator"  # what the search's evaluator tells the report: {"name", ...} (a supernet's curve, cost)


class Objective(NamedTuple):
    """An objective: its name in ``--objectives``, Optuna direction, trial attribute and label."""

    name: str
    direction: str
    attr: str
    label: str


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("accuracy", "maximize", Attr.ACCURACY, "validation accuracy"),
    Objective("macs", "minimize", Attr.MACS, "MACs"),
    Objective("flops", "minimize", Attr.FLOPS, "FLOPs"),
    Objective("params", "minimize", Attr.PARAMS, "parameters"),
    Objective("latency", "minimize", Attr.LATENCY_MS, "latency (ms)"),
)}


def trial_status(trial: Any) -> TrialStatus:
    """The status of a trial, decided from its state and what its worker recorded while it ran.

    ``running`` (RUNNING or WAITING); a COMPLETE trial's recorded status (``complete``,
    ``repeat``, ``infeasible``); ``stopped`` (PRUNED by nasbox's early stopping, which records
    it first; a PRUNED trial without it is ``failed``); a FAIL trial is ``failed`` or
    ``screened`` only when its worker recorded that before telling it, and ``lost``
    otherwise. So a trial failed for a dead worker -- by Optuna's heartbeat check, which
    writes nothing but the state, or by nasbox's own settling -- is lost whatever its worker
    had written before it died (even a ``complete`` status just before ``tell``).
    """
    state, attrs = trial.state.name, trial.user_attrs
    status = attrs.get(Attr.STATUS)
    if state in ("RUNNING", "WAITING"):
        return TrialStatus.RUNNING
    if state == "COMPLETE":
        return TrialStatus(status) if status in _ON_COMPLETE else TrialStatus.COMPLETE
    if state == "PRUNED":
        return TrialStatus.STOPPED if status == TrialStatus.STOPPED else TrialStatus.FAILED
    if Attr.LOST in attrs or status not in _ON_FAIL:
        return TrialStatus.LOST
    return TrialStatus(status)


def counts_toward_budget(trial: Any) -> bool:
    """Finished with a result of its own (:data:`COUNTED`): not running, lost or screened, and no
    confirmation of another trial (``--confirm`` trains those after the budget, not as part of it)."""
    return trial_status(trial) in COUNTED and Attr.CONFIRMS not in trial.user_attrs


def count_finished(trials: Any) -> int:
    """How many of ``trials`` count toward the budget."""
    return sum(counts_toward_budget(t) for t in trials)


def lost_reason(trial: Any) -> str | None:
    """Why a lost trial does not count (``None`` for any other trial)."""
    if trial_status(trial) != TrialStatus.LOST:
        return None
    return trial.user_attrs.get(Attr.LOST) or _STALE_REASON


# ---- files


def safe_name(name: str) -> str:
    """A study name made file-safe: letters, digits and ``-_.``; the rest becomes ``_``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".")
    if not safe:
        raise ConfigError(f"study name {name!r} has no usable characters")
    return safe


def report_dir_for(study_name: str, reports_dir: str | Path = "reports") -> Path:
    """``<reports_dir>/<study name made file-safe>``, the folder a search writes to."""
    return Path(reports_dir) / safe_name(study_name)


class StudyPaths(NamedTuple):
    """The files of a study's report folder."""

    root: Path

    @classmethod
    def of(cls, study_name: str, reports_dir: str | Path = "reports") -> StudyPaths:
        return cls(report_dir_for(study_name, reports_dir))

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL_NAME

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def pareto_csv(self) -> Path:
        return self.root / "pareto.csv"

    @property
    def index(self) -> Path:
        return self.root / "index.html"

    @property
    def markdown(self) -> Path:
        return self.root / "report.md"

    @property
    def search_toml(self) -> Path:
        """``search.toml``: the options that reproduce the study (``nasbox search --config``)."""
        return self.root / "search.toml"

    @property
    def archs(self) -> Path:
        return self.root / "archs"

    def arch_json(self, arch_id: str) -> Path:
        """``archs/<arch_id>.json``: a sampled genotype, written by the search."""
        return self.archs / f"{arch_id}.json"

    def arch_page(self, arch_id: str) -> Path:
        """``archs/<arch_id>.html``: its per-layer page, written by the report."""
        return self.archs / f"{arch_id}.html"

    def model_dir(self, name: str) -> Path:
        """``models/<name>/``: a candidate trained by ``nasbox train``."""
        return self.root / "models" / safe_name(name)
