"""Everything a report shows, read from a study into plain data (no rendering here).

:func:`collect` reads the trials and the study's user attributes once and returns a
:class:`ReportData` of plain values; the pages, plots and tables are computed from it. A
failed trial keeps no metrics of its own, so its MACs and parameters are recomputed from
its encoding by :func:`nasbox.model.analysis.analyze` (no torch, milliseconds) and marked as such.
A trial stopped early (``--early-stop``) keeps the accuracy of the rung where it stopped;
the proposals that zero-cost pre-screening (``--prescreen``) left untrained are ``screened``,
and every trial the proxies scored keeps its scores.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nasbox.errors import NasboxError
from nasbox.model.analysis import analyze
from nasbox.model.arch import Architecture
from nasbox.report.calibration import Calibration, calibration
from nasbox.spaces import study_space
from nasbox.study.journal_check import journal_note
from nasbox.study.schema import (
    COUNTED,
    FINAL_CLASSIC,
    FINAL_TRIAL,
    Attr,
    StudyAttr,
    TrialStatus,
    count_finished,
    lost_reason,
    trial_status,
)
from nasbox.study.tables import pareto_numbers

__all__ = ["COUNTED", "JOINED", "NOT_TRAINED", "STATUSES", "TRAINED", "ReportData", "TrialRow", "collect",
           "finished_count"]

#: what :attr:`TrialRow.scored_by` calls a supernet's estimate joined with a prior (``--supernet-prior``)
JOINED = "supernet+prior"

#: statuses of trials that were trained and scored (a repeat reuses an earlier score), in the order listed
TRAINED = (TrialStatus.COMPLETE, TrialStatus.REPEAT)
#: statuses of trials without an accuracy, in the order the plots' strips show them
NOT_TRAINED = (TrialStatus.INFEASIBLE, TrialStatus.SCREENED, TrialStatus.FAILED, TrialStatus.LOST, TrialStatus.RUNNING)
#: every status, in the order the counts list them (``stopped``: trained part-way, accuracy at its rung)
STATUSES = (*TRAINED, TrialStatus.STOPPED, *NOT_TRAINED)


@dataclass(frozen=True)
class TrialRow:
    """One trial as the report sees it.

    Attributes:
        number: Optuna's trial number.
        status: ``complete``, ``repeat``, ``stopped``, ``infeasible``, ``screened``, ``failed``, ``lost`` or
            ``running``.
        accuracy: validation top-1 (for a stopped trial: at the rung where it stopped), ``None`` unless
            trained or stopped.
        macs, flops, params: counts at batch 1 (``None`` when unknown).
        latency_ms, latency_iqr_ms: median batch-1 latency and its spread (``None`` unless measured).
        encoding, arch_id: the genotype (``None`` when the trial never sampled one).
        reason: why it is infeasible, screened out, failed or lost (``None`` otherwise).
        repeat_of: the trial whose score a repeat reuses.
        costs_from_analysis: MACs/params were recomputed from the encoding (failed trials).
        start, complete: ISO dates.
        stopped_at: the iteration at which a stopped trial stopped (``None`` otherwise).
        budget_iterations: the training budget in iterations of a trial that trained, stopped ones
            included (``None`` when not recorded).
        proxies: zero-cost proxy scores (``{"synflow": ..., "naswot": ..., "jacob_cov": ...}``) of a
            trial that pre-screening scored, ``None`` otherwise; a proxy that failed on the candidate
            scores ``-inf`` (NaN scores are left out).
        evaluator: the name of the evaluator that scored it (``brief``, ``supernet``, ``table``).
        confirms: the trial whose estimated accuracy this standalone trial checks (``--confirm``).
        inherited_accuracy: a supernet's own estimate where the accuracy joined it with a prior
            (``--supernet-prior``), ``None`` otherwise.
    """

    number: int
    status: str
    accuracy: float | None = None
    macs: int | None = None
    flops: int | None = None
    params: int | None = None
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None
    encoding: str | None = None
    arch_id: str | None = None
    reason: str | None = None
    repeat_of: int | None = None
    costs_from_analysis: bool = False
    start: str | None = None
    complete: str | None = None
    stopped_at: int | None = None
    budget_iterations: int | None = None
    proxies: dict[str, float] | None = field(default=None, hash=False)
    evaluator: str | None = None
    confirms: int | None = None
    inherited_accuracy: float | None = None

    @property
    def scored_by(self) -> str | None:
        """What its accuracy is: the evaluator's name, ``supernet+prior`` for a supernet's estimate joined with a
        prior (no measurement on the validation split, as a table's is not)."""
        return JOINED if self.inherited_accuracy is not None else self.evaluator

    @property
    def trained(self) -> bool:
        return self.status in TRAINED and self.accuracy is not None

    def metric(self, name: str) -> float | None:
        """``accuracy``, ``macs``, ``flops``, ``params`` or ``latency`` (``latency_ms``)."""
        value = getattr(self, "latency_ms" if name == "latency" else name)
        return None if value is None else float(value)


@dataclass(frozen=True)
class ReportData:
    """A study, read once: its trials, setup and objectives, as plain data."""

    study_name: str
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: tuple[TrialRow, ...]
    setup: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # split sizes and versions recorded by the search
    pareto_numbers: tuple[int, ...] = ()  # Pareto-optimal in all objectives, one trial per genotype
    fidelity: dict[str, Any] = field(default_factory=dict)  # epochs, iterations (both once one trained), batch
    devices: tuple[str, ...] = ()  # the devices the trials ran on (one, unless workers differed)
    classics: dict[str, Any] = field(default_factory=dict)  # the classic networks' latency the search measured
    evaluator: dict[str, Any] = field(default_factory=dict)  # what the search's evaluator recorded (a supernet's)
    counted: int = 0  # trials that count toward the budget, by the search's own rule (count_finished)
    storage_note: str = ""  # what the storage healed (a torn journal tail), in a sentence
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # the final rung's records (nasbox.search.final)
    calibration: Calibration = field(default_factory=Calibration)  # each cheap score against the final test accuracy

    def by_status(self, status: str) -> list[TrialRow]:
        return [t for t in self.trials if t.status == status]

    def counts(self) -> dict[str, int]:
        """Trials per status, in a fixed order (zero counts included)."""
        return {s: len(self.by_status(s)) for s in STATUSES}

    def trial(self, number: int) -> TrialRow:
        for t in self.trials:
            if t.number == number:
                return t
        raise KeyError(number)



def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(value: Any) -> int | None:
    f = _num(value)
    return None if f is None else int(round(f))


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat(sep=" ", timespec="seconds")


def _proxies(value: Any) -> dict[str, float] | None:
    """The proxy scores of a trial: numbers only, NaN left out, ``-inf`` (a failed proxy) kept."""
    if not isinstance(value, dict):
        return None
    scores = {str(k): float(v) for k, v in value.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)}
    return scores or None


def _accuracy(a: dict[str, Any], status: str) -> float | None:
    """Validation accuracy of a trained trial, or of a stopped one at its rung."""
    if status in TRAINED:
        return _num(a.get("accuracy"))
    if status == TrialStatus.STOPPED:
        stop = a.get(Attr.EARLY_STOP)
        return _num(a.get("accuracy", stop.get("accuracy") if isinstance(stop, dict) else None))
    return None


def _stop(a: dict[str, Any], status: str) -> tuple[int | None, int | None]:
    """``(stopped_at, budget_iterations)``: where a stopped trial stopped, and the training budget of any
    trial that trained (the ``iterations`` its training was given; ignored where not beyond the stop)."""
    budget = _int(a.get("iterations"))
    if status != TrialStatus.STOPPED:
        return None, budget
    stop = a.get(Attr.EARLY_STOP)
    at = _int(a.get(Attr.STOPPED_AT, stop.get("iteration") if isinstance(stop, dict) else None))
    return at, budget if budget is not None and (at is None or budget > at) else None


def _row(t: FrozenTrial) -> tuple[TrialRow, dict[str, Any]]:
    a = t.user_attrs
    status = trial_status(t)
    macs, params = _int(a.get("macs")), _int(a.get("params"))
    from_analysis = False
    encoding = a.get("encoding") if isinstance(a.get("encoding"), str) else None
    if (macs is None or params is None) and encoding:
        try:
            info = analyze(Architecture.decode(encoding))
            macs, params, from_analysis = info.macs, info.params, True
        except (NasboxError, ValueError, TypeError):
            pass
    flops = _int(a.get("flops"))
    if flops is None and macs is not None:
        flops = 2 * macs
    reason = lost_reason(t) or a.get(Attr.INFEASIBLE) or a.get(Attr.FAIL_REASON)
    if status == TrialStatus.RUNNING:
        reason = "still running"
    elif reason is None and t.state == TrialState.PRUNED and status != TrialStatus.STOPPED:
        reason = "stopped early"
    stopped_at, budget_iterations = _stop(a, status)
    row = TrialRow(
        number=t.number, status=status, accuracy=_accuracy(a, status),
        macs=macs, flops=flops, params=params,
        latency_ms=_num(a.get("latency_ms")), latency_iqr_ms=_num(a.get("latency_iqr_ms")),
        encoding=encoding, arch_id=a.get("arch_id") if isinstance(a.get("arch_id"), str) else None,
        reason=str(reason) if reason is not None else None,
        repeat_of=_int(a.get("repeat_of")), costs_from_analysis=from_analysis,
        start=_iso(t.datetime_start), complete=_iso(t.datetime_complete),
        stopped_at=stopped_at, budget_iterations=budget_iterations, proxies=_proxies(a.get("proxies")),
        evaluator=a.get(Attr.EVALUATOR) if isinstance(a.get(Attr.EVALUATOR), str) else None,
        confirms=_int(a.get(Attr.CONFIRMS)), inherited_accuracy=_num(a.get(Attr.INHERITED_ACCURACY)),
    )
    budget = {}
    if _num(a.get("iterations")) is not None and _num(a.get("epochs")) is not None:
        budget = {"trained_iterations": _int(a["iterations"]), "trained_epochs": _num(a["epochs"])}
    return row, budget


def finished_count(study: optuna.Study) -> int:
    """Trials with a result of their own: complete, repeat, stopped, infeasible or failed (not lost
    nor screened out)."""
    return count_finished(study.get_trials(deepcopy=False))


def collect(study: optuna.Study) -> ReportData:
    """Read a study written by :func:`nasbox.search.run_search` into a :class:`ReportData`.

    The study's space is loaded first (when it still can be), so that the block kinds a
    user's space file defines are known to the genotypes read back.
    """
    attrs = study.user_attrs
    with contextlib.suppress(NasboxError):
        study_space(attrs)
    setup = dict(attrs.get(StudyAttr.SETUP) or {})
    config = dict(attrs.get(StudyAttr.CONFIG) or {})
    objectives = tuple(setup.get("objectives") or config.get("objectives") or ())
    directions = tuple(d.name.lower() for d in study.directions)
    if len(objectives) != len(directions):
        objectives = tuple(f"objective {i}" for i in range(len(directions)))
    rows: dict[int, TrialRow] = {}
    fidelity: dict[str, Any] = {k: config.get(k) for k in ("epochs", "iterations", "batch_size", "lr")}
    devices: list[str] = []
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        rows[t.number], budget = _row(t)
        device = t.user_attrs.get("device")
        if isinstance(device, str) and device not in devices:
            devices.append(device)
        if budget and rows[t.number].status == TrialStatus.COMPLETE and "trained_iterations" not in fidelity:
            fidelity.update(budget)
    return ReportData(
        study_name=study.study_name, objectives=objectives, directions=directions,
        trials=tuple(rows[n] for n in sorted(rows)), setup=setup, config=config,
        run=dict(attrs.get(StudyAttr.RUN) or {}), pareto_numbers=pareto_numbers(study),
        fidelity=fidelity, devices=tuple(devices), classics=dict(attrs.get(StudyAttr.CLASSICS) or {}),
        evaluator=dict(attrs.get(StudyAttr.EVALUATOR) or {}), counted=count_finished(trials),
        storage_note=journal_note(study._storage),
        final={k: v for k, v in attrs.items() if k.startswith((FINAL_TRIAL, FINAL_CLASSIC)) and isinstance(v, dict)},
        calibration=calibration(trials, attrs),
    )
