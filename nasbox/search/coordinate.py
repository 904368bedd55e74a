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
from collections.abc import Callable, Iterable
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
    """What a worker knows of the study's trials, kept up to date in time that does not grow with the
    study. A finished trial is never written again, so each is digested once (its count, best accuracy
    and, through ``on_finished``, the repeat index) and the ledger keeps the numbers of the trials it
    saw unfinished. :meth:`fetch` reads only those and the trials new since the last look, one by one
    (a storage call each, not a read of the whole study); :meth:`update` digests a whole read."""

    def __init__(self, on_finished: Callable[[FrozenTrial], None] | None = None) -> None:
        self.on_finished = on_finished or (lambda trial: None)
        self.upto = 0  # every trial numbered below this was seen
        self.open: dict[int, FrozenTrial] = {}  # those seen unfinished, as last seen
        self.counted, self.best = 0, None

    def update(self, trials: Iterable[FrozenTrial]) -> None:
        """Digest trials read from the study (any order; a trial digested before is skipped)."""
        for t in trials:
            if t.number < self.upto and t.number not in self.open:
                continue  # finished and digested
            if t.state.is_finished():
                self.open.pop(t.number, None)
                self.counted += counts_toward_budget(t)
                self.best = _best(self.best, t)
                self.on_finished(t)
            else:
                self.open[t.number] = t
            if t.number >= self.upto:
                for gap in range(self.upto, t.number):  # not in this read: look again next time
                    self.open.setdefault(gap, None)  # type: ignore[arg-type]
                self.upto = t.number + 1

    def fetch(self, study: optuna.Study, upto: int) -> None:
        """Read the trials numbered below ``upto`` that may have changed: the unfinished ones and the new ones."""
        storage, study_id = study._storage, study._study_id
        numbers = sorted(n for n in self.open if n < upto) + list(range(self.upto, upto))
        found = []
        for n in numbers:
            try:
                found.append(storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, n)))
            except KeyError:  # not in the storage (yet)
                continue
        self.update(found)

    def tally(self, upto: int | None = None) -> Tally:
        """The counted, running and best trials known (of those numbered below ``upto``, for the running)."""
        running = sum(t is not None and t.state == TrialState.RUNNING and (upto is None or n < upto)
                      for n, t in self.open.items())
        return Tally(self.counted, running, self.best)


def _best(best: float | None, trial: FrozenTrial | None, other: float | None = None) -> float | None:
    values = [v for v in (best, other) if v is not None]
    if trial is not None and trial_status(trial) in TRAINED:
        accuracy = trial.user_attrs.get(Attr.ACCURACY)
        if isinstance(accuracy, (int, float)):
            values.append(float(accuracy))
    return max(values, default=None)


class Coordinator:
    """Decides, from one read of the study, whether this worker goes on, waits or stops."""

    def __init__(self, study: optuna.Study, budget: int, heartbeat_s: int, ledger: Ledger | None = None) -> None:
        self.study, self.budget = study, budget
        self.ledger = ledger or Ledger()
        self.grace_s = float(GRACE_BEATS * heartbeat_s)  # a RUNNING trial silent this long has lost its worker
        self.poll_s = min(2.0, heartbeat_s / 2)
        self.last_check = time.monotonic()

    def settle(self) -> list[int]:
        """Settle the RUNNING trials of dead workers (their heartbeat stopped, their process is
        gone, or they never recorded a worker); the numbers nasbox settled itself."""
        fail_stale_trials(self.study)
        return settle_stale_trials(self.study, self.grace_s)

    def read(self) -> list[FrozenTrial]:
        """The study's trials, after failing those whose heartbeat stopped; the ledger digests them."""
        fail_stale_trials(self.study)
        self.last_check = time.monotonic()
        trials = self.study.get_trials(deepcopy=False)
        self.ledger.update(trials)
        return trials

    def near_the_end(self) -> bool:
        """Whether the budget is close enough that the next step needs a read of the whole study: the
        trials known to count or run leave at most twice as many as run (other workers' trials may have
        ended since) -- or nothing is known yet. Far from it, a worker asks for its next trial from what
        it knows, and the check after ``ask`` (:meth:`surplus`, from the trials before it) keeps the budget."""
        t = self.ledger.tally()
        return self.ledger.upto == 0 or self.budget - t.finished - t.running <= 2 * t.running + 1

    def check_stale(self) -> None:
        """Fail the trials whose heartbeat stopped, once a heartbeat interval (a read of the running trials)."""
        if time.monotonic() - self.last_check >= self.grace_s / GRACE_BEATS:
            fail_stale_trials(self.study)
            self.last_check = time.monotonic()

    def next(self, trials: list[FrozenTrial] | None = None) -> Next:
        """Go on, wait or stop, from ``trials`` (a read, digested by the ledger) or what the ledger knows."""
        if trials is not None:
            self.ledger.update(trials)
        t = self.ledger.tally()
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
