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
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from nasbox.study.schema import count_finished
from nasbox.study.storage import GRACE_BEATS, fail_stale_trials, settle_stale_trials

__all__ = ["Coordinator", "Next", "Tally", "worker_devices"]


class Next(enum.Enum):
    DONE = "done"  # the study holds the budget
    WAIT = "wait"  # other workers hold the rest of it
    GO = "go"  # ask for a trial


class Tally(NamedTuple):
    finished: int  # counted trials
    running: int


def tally(trials: list[FrozenTrial]) -> Tally:
    return Tally(count_finished(trials), sum(t.state == TrialState.RUNNING for t in trials))


class Coordinator:
    """Decides, from one read of the study, whether this worker goes on, waits or stops."""

    def __init__(self, study: optuna.Study, budget: int, heartbeat_s: int) -> None:
        self.study, self.budget = study, budget
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
        t = tally(trials)
        if t.finished >= self.budget:
            return Next.DONE
        return Next.WAIT if t.finished + t.running >= self.budget else Next.GO

    def wait(self) -> None:
        """Other workers hold the last trials: settle any whose worker died (its trial would
        otherwise keep the budget from being reached), then wait a little."""
        settle_stale_trials(self.study, self.grace_s)
        time.sleep(self.poll_s)

    def surplus(self, before: list[FrozenTrial]) -> bool:
        """Whether a new trial is beyond the budget: the trials asked before it already hold it."""
        t = tally(before)
        return t.finished + t.running >= self.budget


def worker_devices(device: str, workers: int) -> list[str]:
    """The device of each of ``workers`` processes: GPUs in turn for ``cuda``/``auto`` on a
    machine with GPUs (``cuda:0``, ``cuda:1``, ...), else ``device`` for all."""
    import torch  # heavy: only the CLI's --workers asks

    if device in ("cuda", "auto") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(workers)]
    return [device] * workers
