"""A study as tables: every trial as a DataFrame, the Pareto set, ``trials.csv`` and ``pareto.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from nasbox.files import atomic_write
from nasbox.study.pareto import non_dominated_mask
from nasbox.study.schema import FINAL_TRIAL, TRAINED, Attr, StudyPaths, lost_reason, trial_status

__all__ = ["TRIAL_COLUMNS", "best_trials", "pareto_dataframe", "pareto_numbers", "trials_dataframe", "write_study_tables",
           "write_tables"]

TRIAL_COLUMNS = ["number", "state", "status", "accuracy", "macs", "flops", "params", "latency_ms", "latency_iqr_ms",
                 "macs_fvcore", "macs_thop", "train_seconds", "epochs", "iterations", "batch_size", "device",
                 "evaluator", "arch_id", "encoding", "repeat_of", "disconnected", "infeasible", "fail_reason", "lost",
                 "host", "pid", "datetime_start", "datetime_complete"]


def trials_dataframe(study: optuna.Study) -> pd.DataFrame:
    """Every trial of a study: metrics, status, fidelity, device, genotype parameters; a trial the final rung
    trained fully also its ``final_test_accuracy`` and ``final_epochs``; one scored by several supernets each
    one's estimate (``supernet_estimates``, separated by semicolons); one whose supernet estimate was joined with a
    prior the supernet's own (``inherited_accuracy``)."""
    rows = []
    final = {v.get("trial"): v for k, v in study.user_attrs.items()
             if k.startswith(FINAL_TRIAL) and isinstance(v, dict)}
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        status = trial_status(t)
        worker = a.get(Attr.WORKER) or {}
        fidelity = a.get(Attr.FIDELITY) or {}
        row = {
            "number": t.number, "state": t.state.name, "status": str(status),
            **{k: a.get(k) for k in ("accuracy", "macs", "flops", "params", "latency_ms", "latency_iqr_ms",
                                     "macs_fvcore", "macs_thop", "train_seconds", "epochs", "iterations",
                                     "device", "evaluator", "arch_id", "encoding", "repeat_of", "disconnected", "infeasible",
                                     "fail_reason")},
            "batch_size": fidelity.get("batch_size"),
            "lost": lost_reason(t), "host": worker.get("host"), "pid": worker.get("pid"),
            "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete,
        }
        if a.get(Attr.INHERITED_ACCURACY) is not None:  # the accuracy joined a supernet's with a prior: the supernet's
            row[Attr.INHERITED_ACCURACY] = a[Attr.INHERITED_ACCURACY]
        if a.get(Attr.SUPERNET_ESTIMATES) is not None:  # scored by several supernets: each one's estimate
            row[Attr.SUPERNET_ESTIMATES] = ";".join(f"{x:.6g}" for x in a[Attr.SUPERNET_ESTIMATES])
        if t.number in final:
            row.update(final_test_accuracy=final[t.number].get("test_accuracy"), final_epochs=final[t.number].get("epochs"))
        row.update({f"param.{k}": v for k, v in t.params.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    return df[[c for c in df.columns if not c.startswith("param.")] + [c for c in df.columns if c.startswith("param.")]]


def best_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """What Optuna's ``Study.best_trials`` gives (the COMPLETE trials that are feasible, where any trial
    has constraints, and non-dominated in all objectives), without its deep copy of every trial (most
    of the time of a report of 10,000 trials)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values is not None]
    if any(t.constraints for t in trials):
        trials = [t for t in trials if all(v <= 0.0 for v in t.constraints.values())]
    if not trials:
        return []
    mask = non_dominated_mask(np.array([t.values for t in trials], dtype=float), study.directions)
    return [t for t, keep in zip(trials, mask, strict=True) if keep]


def pareto_numbers(study: optuna.Study) -> tuple[int, ...]:
    """The best trials (feasible, non-dominated in all objectives: :func:`best_trials`) that were
    trained, one per genotype (the first trial of it), best accuracy first."""
    try:
        best = best_trials(study)
    except (RuntimeError, ValueError):
        return ()
    chosen: dict[str, tuple[float, int]] = {}
    for t in sorted(best, key=lambda t: t.number):
        accuracy = t.user_attrs.get("accuracy")
        if trial_status(t) in TRAINED and isinstance(accuracy, (int, float)):
            chosen.setdefault(t.user_attrs.get("arch_id") or f"#{t.number}", (-float(accuracy), t.number))
    return tuple(n for _, n in sorted(chosen.values()))


def pareto_dataframe(study: optuna.Study, df: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`pareto_numbers`, in its order."""
    if df.empty:
        return df.iloc[0:0]
    return df.set_index("number", drop=False).loc[list(pareto_numbers(study))].reset_index(drop=True)


def write_tables(report_dir: Path, df: pd.DataFrame, pareto: pd.DataFrame) -> list[Path]:
    """``trials.csv`` and ``pareto.csv`` in ``report_dir``, each written atomically."""
    paths = StudyPaths(Path(report_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    return [atomic_write(path, lambda p, f=frame: f.to_csv(p, index=False))
            for path, frame in ((paths.trials_csv, df), (paths.pareto_csv, pareto))]


def write_study_tables(study: optuna.Study, report_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """Every trial and the Pareto set of ``study``, as DataFrames and as ``trials.csv`` and ``pareto.csv``."""
    df = trials_dataframe(study)
    pareto = pareto_dataframe(study, df)
    return df, pareto, write_tables(report_dir, df, pareto)
