"""The search's progress, as typed events (the CLI renders them; a notebook may log them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClassicsMeasured", "Event", "FinalProgress", "FinalStarted", "ProgressCallback", "SearchEnded",
           "SearchStarted", "SetupNote", "TrialEnded", "TrialStarted"]


@dataclass(frozen=True)
class SetupNote:
    """Setup work that takes a while before the search starts, said as it begins and ends (an evaluator's: a
    supernet's prior being made)."""

    text: str


@dataclass(frozen=True)
class SearchStarted:
    """A worker opened the study and is about to ask for its first trial."""

    study: str
    storage: str  # without password
    report_dir: str
    budget: int
    device: str
    space: str
    dataset: str
    evaluator: str
    settled: list[int]  # stale trials this worker settled as lost on starting
    finished: int  # counted trials already in the study
    fidelity: dict[str, Any]
    budget_text: str  # the per-candidate budget in words (iterations and epochs)
    n_train: int
    n_val: int
    report_every: int = 0  # the report is rebuilt after this many trials (0: at the end only) ...
    report_every_s: float = 0.0  # ... or this many seconds
    healed: tuple[tuple[int, str], ...] = ()  # torn journal tails this worker cut: (bytes, where a copy is kept)


@dataclass(frozen=True)
class ClassicsMeasured:
    """The classic networks' latency at the study's input on this device, for the report."""

    networks: int  # networks with a latency
    seconds: float  # time spent measuring (about 0 when every one was cached)
    cache: str  # the cache file


@dataclass(frozen=True)
class TrialStarted:
    number: int
    index: int  # the counted trial this one would be (1 .. budget)
    encoding: str


@dataclass(frozen=True)
class TrialEnded:
    """A trial ended; ``metrics`` holds what it recorded (accuracy, macs, params, latency_ms, reasons)."""

    number: int
    index: int
    budget: int
    status: str
    seconds: float
    elapsed: float
    eta: float
    best_accuracy: float | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metrics.get(key, default)


@dataclass(frozen=True)
class FinalStarted:
    """The final rung's networks (candidates first), why each was picked, and the classic networks left out."""

    names: list[str]
    why: list[str]
    skipped: list[tuple[str, str]]
    epochs: int


@dataclass(frozen=True)
class FinalProgress:
    """An event of the final rung: ``network`` (i/N starts), full training's ``start``/``step``/``epoch``/``test``/
    ``done`` (with ``index`` and ``total``), or ``waiting`` (for networks another process trains)."""

    event: dict[str, Any]


@dataclass(frozen=True)
class SearchEnded:
    elapsed: float
    interrupted: bool


Event = SetupNote | SearchStarted | ClassicsMeasured | TrialStarted | TrialEnded | FinalStarted | FinalProgress | SearchEnded
ProgressCallback = Callable[[Event], None]
