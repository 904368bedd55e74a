"""Step 6, *coordinate*: the budget across all workers of a study, and the workers themselves.

``budget`` counts the trials of the whole study that ended with a result of their own
(:data:`nasbox.study.schema.COUNTED`); trials lost to an interruption, a dead worker or a
race between workers are not counted, so every worker stops when the study holds exactly
``budget`` counted trials, and re-running the same command resumes to it. A worker whose
remaining budget is held by others' running trials waits for them, settling those whose
worker died; a trial asked for when others already hold the rest of the budget is a
surplus, told FAIL and lost.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from nasbox.study.schema import TRAINED, Attr, counts_toward_budget, trial_status
from nasbox.study.storage import GRACE_BEATS, fail_stale_trials, settle_stale_trials

__all__ = ["Coordinator", "Ledger", "Next", "Tally", "worker_devices"]


class Next(enum.Enum):
    DONE = "done"  # the study holds the budget
    WAIT = "wait"  # other workers hold the rest of it
    GO = "go"  # ask for a trial


class Tally(NamedTuple):
    finished: int  # counted trials
    running: int
    best_accuracy: float | None = None  # the best accuracy of a trained trial


class Ledger:
    """What a worker knows of the study's trials, kept up to date from each read in time that does not
    grow with the study: a finished trial is never written again, so the trials before the first one
    that is not finished are digested once (their count, best accuracy and, through ``on_finished``,
    the repeat index) and each read looks at the rest only. Reads are lists in trial-number order
    (Optuna's); a list that is not is counted in full."""

    def __init__(self, on_finished: Callable[[FrozenTrial], None] | None = None) -> None:
        self.on_finished = on_finished or (lambda trial: None)
        self.settled = 0  # trials[:settled] are finished and digested
        self.counted, self.best = 0, None

    def tally(self, trials: list[FrozenTrial]) -> Tally:
        """The counted, running and best trials of ``trials`` (a read of the study, or its first trials)."""
        if self.settled > len(trials) or (self.settled and trials[self.settled - 1].number != self.settled - 1):
            return tally(trials)  # not the prefix this ledger knows (another study's list, or one out of order)
        while self.settled < len(trials) and trials[self.settled].state.is_finished():
            trial = trials[self.settled]
            self.counted += counts_toward_budget(trial)
            self.best = _best(self.best, trial)
            self.on_finished(trial)
            self.settled += 1
        rest = tally(trials[self.settled:])
        return Tally(self.counted + rest.finished, rest.running, _best(self.best, None, rest.best_accuracy))


def _best(best: float | None, trial: FrozenTrial | None, other: float | None = None) -> float | None:
    values = [v for v in (best, other) if v is not None]
    if trial is not None and trial_status(trial) in TRAINED:
        accuracy = trial.user_attrs.get(Attr.ACCURACY)
        if isinstance(accuracy, (int, float)):
            values.append(float(accuracy))
    return max(values, default=None)


def tally(trials: list[FrozenTrial]) -> Tally:
    """The counted, running and best trials of ``trials``, counted in full."""
    best = None
    for t in trials:
        best = _best(best, t)
    return Tally(sum(counts_toward_budget(t) for t in trials), sum(t.state == TrialState.RUNNING for t in trials), best)


class Coordinator:
    """Decides, from one read of the study, whether this worker goes on, waits or stops."""

    def __init__(self, study: optuna.Study, budget: int, heartbeat_s: int, ledger: Ledger | None = None) -> None:
        self.study, self.budget = study, budget
        self.ledger = ledger or Ledger()
        self.grace_s = float(GRACE_BEATS * heartbeat_s)  # a RUNNING trial silent this long has lost its worker
        self.poll_s = min(2.0, heartbeat_s / 2)

    def settle(self) -> list[int]:
        """Settle the RUNNING trials of dead workers (their heartbeat stopped, their process is
        gone, or they never recorded a worker); the numbers nasbox settled itself."""
        fail_stale_trials(self.study)
        return settle_stale_trials(self.study, self.grace_s)

    def read(self) -> list[FrozenTrial]:
        """The study's trials, after failing those whose heartbeat stopped (one read per loop)."""
        fail_stale_trials(self.study)
        return self.study.get_trials(deepcopy=False)

    def next(self, trials: list[FrozenTrial]) -> Next:
        t = self.ledger.tally(trials)
        if t.finished >= self.budget:
            return Next.DONE
        return Next.WAIT if t.finished + t.running >= self.budget else Next.GO

    def wait(self) -> None:
        """Other workers hold the last trials: settle any whose worker died (its trial would
        otherwise keep the budget from being reached), then wait a little."""
        settle_stale_trials(self.study, self.grace_s)
        time.sleep(self.poll_s)

    def surplus(self, before: Tally) -> bool:
        """Whether a new trial is beyond the budget: the trials asked before it (their tally) already hold it."""
        return before.finished + before.running >= self.budget


def worker_devices(device: str, workers: int) -> list[str]:
    """The device of each of ``workers`` processes: GPUs in turn for ``cuda``/``auto`` on a
    machine with GPUs (``cuda:0``, ``cuda:1``, ...), else ``device`` for all."""
    import torch  # heavy: only the CLI's --workers asks

    if device in ("cuda", "auto") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(workers)]
    return [device] * workers
