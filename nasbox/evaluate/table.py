"""A tabular evaluator: look a candidate's accuracy up in a table instead of training it.

``nasbox search --evaluator table:FILE.csv`` scores each candidate with the row of ``FILE.csv``
whose ``arch`` column holds the candidate's canonical arch string in its space
(:meth:`~nasbox.spaces.SearchSpace.arch_string`: NAS-Bench-201's arch string for ``nb201``, nasbox's
encoding otherwise, as ``nasbox show`` prints it and ``trials.csv`` records it). The other columns are metrics named
like the objectives: ``accuracy`` (required; a column whose values exceed 1 is read as percent)
and, optionally, ``latency_ms`` or anything else a published benchmark provides, recorded on the
trial under those names. MACs and parameters stay analytic. A candidate missing from the table
is a failed trial whose reason names the table, not a crash. Benchmarks published as tables
(NAS-Bench-style) plug in by writing their rows in this form.

The table is part of the study's fidelity (its file name and content digest): resuming a study
with another table is refused, and a genotype looked up before is a repeat.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from nasbox.errors import ConfigError, EvaluationError, NasboxError
from nasbox.evaluate.base import Candidate, EvalContext, Evaluation, Evaluator, Rungs, register_evaluator
from nasbox.files import atomic_write

__all__ = ["TableLookup", "read_table", "write_table"]

KEY = "arch"


def read_table(path: str | Path, content: bytes | None = None) -> dict[str, dict[str, float]]:
    """``arch -> {metric: value}`` from a CSV file (or its ``content``, already read), accuracy as a fraction.

    Raises:
        ConfigError: the file is missing or unreadable, has no ``arch`` or ``accuracy`` column, a
            metric that is not a number, or an arch string twice.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(io.BytesIO(content) if content is not None else path, dtype={KEY: str})
    except FileNotFoundError:
        raise ConfigError(f"table {path} does not exist") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"cannot read table {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    missing = [c for c in (KEY, "accuracy") if c not in frame.columns]
    if missing:
        raise ConfigError(f"table {path} has no {' or '.join(missing)} column (columns: {', '.join(frame.columns)})")
    duplicated = frame[KEY][frame[KEY].duplicated()].tolist()
    if duplicated:
        raise ConfigError(f"table {path} lists {duplicated[0]!r} twice")
    metrics = [c for c in frame.columns if c != KEY]
    for column in metrics:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax()) + 2  # the header is line 1
            raise ConfigError(f"table {path}, line {row}: {column} is not a number ({frame[column].iloc[row - 2]!r})")
        frame[column] = values.astype(float)
    if (frame["accuracy"] > 1).any():  # percent, as most published tables give it
        frame["accuracy"] = frame["accuracy"] / 100.0
    if ((frame["accuracy"] < 0) | (frame["accuracy"] > 1)).any():
        raise ConfigError(f"table {path}: accuracy must lie in [0, 1] or [0, 100]")
    return {row[KEY]: {c: float(row[c]) for c in metrics} for row in frame.to_dict("records")}


def write_table(path: str | Path, rows: dict[str, dict[str, float]]) -> Path:
    """Write ``arch -> {metric: value}`` (every row with the same metrics) as a table :func:`read_table`
    reads, atomically: one column per metric, in the order of the first row. How a published benchmark is
    brought in: its arch strings (the space's :meth:`~nasbox.spaces.SearchSpace.arch_string`) and
    metrics, named like the objectives (``accuracy``, ``latency_ms``)."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = KEY
    return atomic_write(path, lambda tmp: frame.to_csv(tmp))


@register_evaluator("table")
class TableLookup(Evaluator):
    """Scores a candidate with its row of a table (``--evaluator table:FILE.csv``)."""

    name: ClassVar[str] = "table"
    supports_rungs: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False

    def __init__(self, context: EvalContext) -> None:
        if not context.argument:
            raise ConfigError("the table evaluator needs a file: --evaluator table:FILE.csv")
        self.path = Path(context.argument).expanduser()
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"table {self.path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read table {self.path}: {exc}") from None
        self.rows = read_table(self.path, content)  # parsed from the bytes it is identified by
        self.space = context.space
        self._canonical: dict[str, str] | None = None  # the space's arch string -> the table's own key
        self.digest = hashlib.sha256(content).hexdigest()[:16]

    def _canonical_keys(self) -> dict[str, str]:
        """The table's keys as the space writes them (DARTS' ``normal_concat=range(2, 6)`` for ``[2, 3, 4, 5]``,
        other spacing), made once, on the first genotype not found as the table spells it."""
        if self._canonical is None:
            self._canonical = {}
            for key in self.rows:
                try:
                    self._canonical.setdefault(self.space.arch_string(self.space.parse_arch(key)), key)
                except (NasboxError, ValueError):
                    continue  # not a genotype of this space
        return self._canonical

    def fidelity(self) -> dict[str, Any]:
        return {"evaluator": self.name, "table": self.path.name, "table_sha256": self.digest}

    def budget_text(self) -> str:
        return f"a lookup in {self.path.name} ({len(self.rows):,} rows)"

    def evaluate(self, candidate: Candidate, rungs: Rungs | None = None) -> Evaluation:
        key = self.space.arch_string(candidate.arch) if self.space is not None else candidate.arch.encode()
        row = self.rows.get(key)
        if row is None and self.space is not None:  # the table may spell its keys otherwise: read them once
            row = self.rows.get(self._canonical_keys().get(key, ""))
        if row is None:
            raise EvaluationError(f"not in the table {self.path.name}: {key}")
        details: dict[str, Any] = {k: v for k, v in row.items() if k != "accuracy" and math.isfinite(v)}
        if "latency_ms" in details:
            details["latency_source"] = "table"
        return Evaluation(row["accuracy"], details)
