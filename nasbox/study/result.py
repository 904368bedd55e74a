"""What a search returns, and what loading a finished study gives: its trials and its Pareto front as tables.

:class:`SearchResult` holds them as DataFrames (``trials.csv``'s and ``pareto.csv``'s columns) and answers the
questions asked of a finished search: the best candidate in one objective (:meth:`~SearchResult.best`), the
front's knee (:meth:`~SearchResult.knee`), a trial's genotype (:meth:`~SearchResult.architecture`). In a
notebook it shows itself as a summary and its Pareto table (``_repr_html_``).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nasbox.errors import ConfigError
from nasbox.model.arch import Architecture
from nasbox.study.pareto import non_dominated_mask
from nasbox.study.schema import OBJECTIVES, TRAINED, StudyPaths

__all__ = ["SearchResult", "knee_index"]

#: the Pareto table's columns a notebook shows, in this order (those the study has)
_SHOWN = ("number", "accuracy", "macs", "params", "latency_ms", "encoding")
_SHOWN_ROWS = 10


def knee_index(accuracy: np.ndarray, cost: np.ndarray) -> int:
    """The knee of a 2-D front of (accuracy, cost): the index of the point farthest above the line between the
    front's extremes.

    The points are the front's (non-dominated in accuracy, maximised, against cost, minimised). Both axes are
    normalised to [0, 1] over them: accuracy as it is, cost on a log scale (costs span orders of magnitude, and
    the report draws them so). The extremes are the cheapest point and the most accurate one; the knee is the
    point with the largest distance above the straight line joining them: where a step in cost buys the most
    accuracy beyond a steady trade. A front of fewer than three points, or one that bends nowhere above that line,
    has no knee: the most accurate point is returned.

    Raises:
        ValueError: the arrays are empty or differ in length, or a cost is not positive.
    """
    acc, c = np.asarray(accuracy, dtype=float), np.asarray(cost, dtype=float)
    if acc.shape != c.shape or acc.ndim != 1 or not len(acc):
        raise ValueError(f"one cost per accuracy, and at least one point, got {acc.shape=} and {c.shape=}")
    if not np.all(c > 0):
        raise ValueError(f"costs are positive (they are drawn on a log scale), got cost={c.tolist()}")
    best = int(np.argmax(acc))
    if len(acc) < 3:
        return best
    x, y = np.log10(c), acc
    x = (x - x.min()) / (np.ptp(x) or 1.0)
    y = (y - y.min()) / (np.ptp(y) or 1.0)
    cheap = int(np.lexsort((-y, x))[0])  # the cheapest, the most accurate of those if several
    dx, dy = x[best] - x[cheap], y[best] - y[cheap]
    norm = math.hypot(dx, dy)
    if norm == 0:
        return best
    above = (dx * (y - y[cheap]) - dy * (x - x[cheap])) / norm  # signed distance; positive above the line
    i = int(np.argmax(above))
    return i if above[i] > 1e-12 else best


@dataclass
class SearchResult:
    """A study's trials as a DataFrame (``trials.csv``'s columns), and its Pareto-optimal ones.

    Attributes:
        study_name: the study.
        storage: where it lives (a database URL without its password, or the journal file's path).
        report_dir: its report folder (``index.html``, ``report.md``, ``archs/``).
        trials: every trial, one row each (``trials.csv``).
        pareto: the Pareto-optimal trained trials, one per genotype, most accurate first (``pareto.csv``).
        objectives: the study's objectives (``accuracy``, ``macs``, ``flops``, ``params``, ``latency``).
        files: the files the search wrote (or, loaded, the report's files that exist).
        interrupted: the search was stopped (Ctrl-C) before its budget.
    """

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
        done = self.trials[self.trials["status"].isin(list(TRAINED))] if "status" in self.trials else self.trials[:0]
        return None if done.empty else float(done["accuracy"].max())

    def best(self, objective: str = "accuracy") -> pd.Series:
        """The Pareto-optimal candidate best in one objective: the most accurate, or the cheapest in MACs,
        FLOPs, parameters or latency (ties go to the more accurate, then the earlier trial).

        Args:
            objective: ``accuracy``, ``macs``, ``flops``, ``params`` or ``latency``.

        Returns:
            Its row of :attr:`pareto` (``number``, ``accuracy``, ``macs``, ..., ``encoding``).

        Raises:
            ValueError: an unknown objective, or no candidate with a value for it (none trained yet).
        """
        column, maximize = _column(objective)
        rows = self._candidates(column)
        key = (-rows[column] if maximize else rows[column], -rows["accuracy"], rows["number"])
        order = np.lexsort(tuple(np.asarray(k, dtype=float) for k in reversed(key)))
        return rows.iloc[int(order[0])]

    def knee(self, cost: str | None = None) -> pd.Series:
        """The knee of the front of accuracy against one cost (:func:`knee_index`): among the Pareto-optimal
        candidates, those non-dominated in (accuracy, ``cost``); on axes normalised over them (the cost on a log
        scale), the one farthest above the line from the cheapest to the most accurate.

        Args:
            cost: ``macs``, ``flops``, ``params`` or ``latency``; default: the study's first cost objective.

        Raises:
            ValueError: an unknown cost, or no candidate with a value for it.
        """
        cost = cost or next((o for o in self.objectives if o != "accuracy"), "macs")
        column, maximize = _column(cost)
        if maximize:
            raise ValueError(f"the knee trades accuracy against a cost, got {cost=}")
        rows = self._candidates(column)
        rows = rows[rows[column] > 0]
        if rows.empty:
            raise ValueError(f"no Pareto-optimal candidate of {self.study_name!r} has a positive {cost}")
        points = rows[["accuracy", column]].to_numpy(dtype=float)
        front = rows[non_dominated_mask(points, ["maximize", "minimize"])]
        i = knee_index(front["accuracy"].to_numpy(dtype=float), front[column].to_numpy(dtype=float))
        return front.iloc[i]

    def architecture(self, trial: int) -> Architecture:
        """The genotype of a trial: the search's ``archs/<arch_id>.json``, else decoded from the trial's encoding.

        Raises:
            ConfigError: the study has no such trial, or the trial has no genotype (it failed before sampling one).
        """
        rows = self.trials[self.trials["number"] == trial] if "number" in self.trials else self.trials[:0]
        if rows.empty:
            numbers = sorted(int(n) for n in self.trials.get("number", []))
            have = f"trials {numbers[0]}..{numbers[-1]}" if numbers else "no trial"
            raise ConfigError(f"study {self.study_name!r} has no trial {trial} (it has {have})")
        row = rows.iloc[0]
        arch_id, encoding = _text(row.get("arch_id")), _text(row.get("encoding"))
        if arch_id:
            path = StudyPaths(self.report_dir).arch_json(arch_id)
            if path.is_file():
                arch = Architecture.from_json(path.read_text())
                if arch.arch_id == arch_id:
                    return arch
        if encoding:
            arch = Architecture.decode(encoding)
            if not arch_id or arch.arch_id == arch_id:
                return arch
        raise ConfigError(f"trial {trial} of study {self.study_name!r} has no genotype that can be read back "
                          f"(arch_id {arch_id or '-'}, encoding {encoding or '-'})")

    def _candidates(self, column: str) -> pd.DataFrame:
        rows = self.pareto
        if column not in rows or rows.empty:
            raise ValueError(f"study {self.study_name!r} has no trained, feasible candidate with a {column} yet")
        rows = rows[pd.to_numeric(rows[column], errors="coerce").notna()]
        if rows.empty:
            raise ValueError(f"no Pareto-optimal candidate of {self.study_name!r} has a {column}")
        return rows

    def __repr__(self) -> str:
        best = self.best_accuracy
        return (f"SearchResult(study={self.study_name!r}, trials={len(self.trials)}, pareto={len(self.pareto)}, "
                f"best_accuracy={'-' if best is None else f'{best:.4f}'}, objectives={','.join(self.objectives)}, "
                f"report_dir='{self.report_dir}')")

    def _repr_html_(self) -> str:
        """A notebook's view: the study in a line, then its Pareto table (the first rows)."""
        counts = self.trials["status"].value_counts() if "status" in self.trials else pd.Series(dtype=int)
        status = ", ".join(f"{n} {html.escape(str(s))}" for s, n in counts.items()) or "none"
        best = self.best_accuracy
        shown = [c for c in _SHOWN if c in self.pareto]
        table = self.pareto[shown].head(_SHOWN_ROWS).to_html(index=False, escape=True, na_rep="-",
                                                                 float_format=lambda v: f"{v:.4g}")
        more = (f"<p>... and {len(self.pareto) - _SHOWN_ROWS} more in <code>.pareto</code></p>"
                if len(self.pareto) > _SHOWN_ROWS else "")
        index = self.report_dir / "index.html"
        return (f"<div><p><b>SearchResult</b> of study <code>{html.escape(self.study_name)}</code>: "
                f"{len(self.trials)} trials ({status}); objectives {html.escape(', '.join(self.objectives))}; "
                f"best accuracy {'-' if best is None else f'{best:.4f}'}{' (interrupted)' if self.interrupted else ''}."
                f" Report: <code>{html.escape(str(index))}</code></p>"
                f"<p>Pareto-optimal candidates ({len(self.pareto)}), most accurate first:</p>{table}{more}</div>")


def _column(objective: str) -> tuple[str, bool]:
    """The trials table's column of an objective, and whether it is maximised."""
    o = OBJECTIVES.get("latency" if objective == "latency_ms" else objective)
    if o is None:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective=}")
    return ("latency_ms" if o.name == "latency" else o.name), o.direction == "maximize"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
