"""What a search returns, and what loading a finished study gives: its trials and its Pareto front as tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nasbox.study.schema import TRAINED

__all__ = ["SearchResult"]


@dataclass
class SearchResult:
    """A study's trials as a DataFrame (``trials.csv``'s columns), and its Pareto-optimal ones."""

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
        done = self.trials[self.trials["status"].isin(list(TRAINED))]
        return None if done.empty else float(done["accuracy"].max())
