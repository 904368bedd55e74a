"""A worker's search as phases, each owning its trial pipeline: the budget, then the confirmations.

- :class:`BudgetPhase` asks for trials until the study holds ``--budget`` counted ones across every worker
  (:mod:`~nasbox.search.coordinate`), with the search's own evaluator;
- :class:`ConfirmPhase` (``--confirm K``) trains the K best non-dominated candidates another evaluator (a
  supernet, a table) estimated standalone with brief training, each a trial of its own that records the trial
  it confirms;
- :class:`FinalPhase` (``--final K``) trains K candidates of the front and the classic networks fully and tests
  each once (the final rung, :mod:`~nasbox.search.final`).

A phase reports each trial's end as a :class:`~nasbox.search.events.TrialEnded` event and leaves an
interruption (Ctrl-C, the storage or the disk failing) to :class:`~nasbox.search.loop.Search`.
"""

from __future__ import annotations

import time
from typing import Protocol

from nasbox.evaluate import make_evaluator
from nasbox.search.coordinate import Next
from nasbox.search.events import FinalProgress, FinalStarted, TrialEnded
from nasbox.search.final import plan, run_final, settings_of
from nasbox.search.hooks import Hook
from nasbox.search.pipeline import Outcome, TrialPipeline
from nasbox.search.propose import Proposer
from nasbox.search.record import confirm_choice
from nasbox.search.services import Services
from nasbox.study.result import SearchResult
from nasbox.study.schema import COUNTED, TRAINED, Attr
from nasbox.study.storage import Heartbeat
from nasbox.study.tables import pareto_dataframe, trials_dataframe

__all__ = ["BudgetPhase", "ConfirmPhase", "FinalPhase", "Phase"]


class Phase(Protocol):
    """A part of a worker's search: runs its trials (raising KeyboardInterrupt and the study's faults on)."""

    def run(self, start: float) -> None: ...


class BudgetPhase:
    """Trials of the search's evaluator until the study holds the budget (see the module docstring)."""

    def __init__(self, s: Services, proposer: Proposer, beat: Heartbeat, hooks: Hook) -> None:
        self.s, self.proposer, self.beat, self.hooks = s, proposer, beat, hooks
        self.pipeline = TrialPipeline(s, s.evaluator, beat, hooks)

    def _go_on(self) -> bool:
        """Whether to ask for another trial: near the end of the budget the study is read again; this worker
        then stops when it is reached, or waits while other workers hold the rest of it."""
        coordinator = self.s.coordinator
        while coordinator.near_the_end():
            coordinator.read()  # the ledger digests it
            step = coordinator.next()
            if step is Next.DONE:
                return False
            if step is Next.GO:
                return True
            coordinator.wait()
        coordinator.check_stale()
        return True

    def run(self, start: float) -> None:
        s, c, done_here = self.s, self.s.config, 0
        while self._go_on():
            if c.prescreen > 1:
                self.hooks.timing()  # pre-screening may time units for the latency table
            proposal = self.proposer.propose()
            trial = proposal.trial
            s.ledger.fetch(s.study, trial.number)  # the trials asked before it: what changed (repeats too)
            seen = s.ledger.tally(trial.number)
            if s.coordinator.surplus(seen):
                self.pipeline.recorder.lose(trial, "surplus: the budget was reached by other workers")
                self.beat.release(trial)
                continue
            index, t0 = seen.finished + 1, time.perf_counter()
            outcome = self.pipeline.run(proposal, index)
            done_here += 1
            s.ledger.fetch(s.study, trial.number + 1)  # its own trial, as told
            self.hooks.trial_done(s.study._storage.get_trial(trial._trial_id))
            elapsed = time.perf_counter() - start
            left = max(0, c.budget - index + (outcome.status not in COUNTED))  # from what this worker saw
            scores = (seen.best_accuracy, outcome.metrics.get(Attr.ACCURACY) if outcome.status in TRAINED else None)
            best = max((a for a in scores if a is not None), default=None)
            s.progress(_ended(trial.number, index, c.budget, outcome, t0, elapsed, elapsed / done_here * left, best))


class ConfirmPhase:
    """``--confirm K``: the K best non-dominated candidates of the search's evaluator, trained standalone (brief
    training) in the same study; those confirmed before (a resumed search) are not trained again."""

    def __init__(self, s: Services, proposer: Proposer, beat: Heartbeat, hooks: Hook) -> None:
        self.s, self.proposer, self.hooks = s, proposer, hooks
        self.pipeline = TrialPipeline(s, make_evaluator("brief", s.context), beat, hooks)

    def _next(self) -> object | None:
        """The next candidate to confirm, read again before each: processes sharing the study take different ones."""
        c = self.s.config
        left = confirm_choice(self.s.study.get_trials(deepcopy=False), self.s.evaluator.name, c.objectives, c.confirm)
        return left[0] if left else None

    def run(self, start: float) -> None:
        s, c = self.s, self.s.config
        todo = confirm_choice(s.study.get_trials(deepcopy=False), s.evaluator.name, c.objectives, c.confirm)
        total = c.budget + len(todo)
        for i in range(len(todo)):
            estimated = todo[0] if i == 0 else self._next()
            if estimated is None:
                break
            s.study.enqueue_trial(estimated.params, user_attrs={Attr.CONFIRMS: estimated.number})
            proposal = self.proposer.propose_one()
            t0 = time.perf_counter()
            outcome = self.pipeline.run(proposal, c.budget + i + 1)
            self.hooks.trial_done(s.study._storage.get_trial(proposal.trial._trial_id))
            eta = (time.perf_counter() - t0) * (len(todo) - i - 1)
            s.progress(_ended(proposal.trial.number, c.budget + i + 1, total, outcome, t0,
                              time.perf_counter() - start, eta, None))


def _ended(number: int, index: int, total: int, outcome: Outcome, t0: float, elapsed: float, eta: float,
           best: float | None) -> TrialEnded:
    return TrialEnded(number, index, total, outcome.status, time.perf_counter() - t0, elapsed, eta, best,
                      outcome.metrics)


class FinalPhase:
    """``--final K``: the final rung (:mod:`~nasbox.search.final`) after the budget and the confirmations, on the
    search's own data and device; workers of the same study share its networks."""

    def __init__(self, s: Services) -> None:
        self.s = s
        c = s.config
        self.settings = settings_of(c.final, c.final_epochs, c.final_classics)

    def run(self, start: float) -> None:
        s = self.s
        df = trials_dataframe(s.study)
        result = SearchResult(s.study_name, s.storage_display, s.paths.root, df, pareto_dataframe(s.study, df),
                              tuple(s.config.objectives), [])
        picks, skipped = plan(s.study, result, self.settings, s.data, s.device, s.config.reports_dir)
        s.progress(FinalStarted([p.name for p in picks], [p.why for p in picks], skipped, self.settings.epochs))
        run_final(s.study, s.data, self.settings, picks, s.paths, s.device,
                  progress=lambda event: s.progress(FinalProgress(event)))
