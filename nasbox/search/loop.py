"""The search: an Optuna study over a space's genotypes, scored on accuracy and costs.

A worker's search is set up once (:mod:`~nasbox.search.services`: data, space, study, the device's services)
and then runs its phases in turn (:mod:`~nasbox.search.phases`: the budget, then ``--confirm``'s
confirmations), each with its own trial pipeline (:mod:`~nasbox.search.pipeline`: propose, check, measure,
evaluate, record). Hooks (:mod:`~nasbox.search.hooks`) do what the outputs need beside the trials: the classic
networks' latency before the first trial, the report rebuilt while searching. Progress is reported as typed
events (:mod:`~nasbox.search.events`).

An interruption is handled here, once: Ctrl-C (the running trial is recorded lost, the finished ones stay and
the tables and report are written), or the study's storage or disk failing (the error goes on to the caller,
one line on the command line). The search writes the study's tables at its end; the report, which sits above
the search, is written by the ``outputs`` hook that :func:`nasbox.search` and the CLI pass
(:func:`nasbox.report.write_report`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from nasbox.search.config import SearchConfig
from nasbox.search.events import ProgressCallback, SearchEnded, SearchStarted
from nasbox.search.hooks import Callbacks, ClassicsLatency, Hooks, LiveReportHook
from nasbox.search.phases import BudgetPhase, ConfirmPhase, FinalPhase, Phase
from nasbox.search.propose import Proposer
from nasbox.search.services import Services, open_services
from nasbox.search.session import record_run_facts
from nasbox.search.tracking import Callback, tracker_callbacks
from nasbox.study.result import SearchResult
from nasbox.study.schema import count_finished
from nasbox.study.storage import Heartbeat, journal_healed
from nasbox.study.tables import write_study_tables

__all__ = ["Outputs", "Search", "run_search"]

#: ``outputs(study, report_dir) -> files``: what a search writes beside its tables at its end
Outputs = Callable[[optuna.Study, Path], list[Path]]


class Search:
    """One worker's search of one study (see the module docstring)."""

    def __init__(self, config: SearchConfig, progress: ProgressCallback | None = None,
                 outputs: Outputs | None = None, callbacks: Sequence[Callback] = ()) -> None:
        self.s: Services = open_services(config, progress)
        self.outputs = outputs
        c = self.s.config
        self.live = LiveReportHook(self._write_outputs if outputs is not None else None, every=c.report_every,
                                   every_s=c.report_every_s)
        tracked = [*tracker_callbacks(c.log, c.objectives, self.s.study_name), *callbacks]
        self.hooks = Hooks([*([ClassicsLatency()] if c.classics and outputs is not None else []), self.live,
                            *([Callbacks(self.s.study, tracked)] if tracked else [])])

    @property
    def config(self) -> SearchConfig:
        return self.s.config

    def phases(self, proposer: Proposer, beat: Heartbeat) -> list[Phase]:
        """The budget, then the confirmations (``--confirm``), then the final rung (``--final``)."""
        phases: list[Phase] = [BudgetPhase(self.s, proposer, beat, self.hooks)]
        if self.s.config.confirm:
            phases.append(ConfirmPhase(self.s, proposer, beat, self.hooks))
        if self.s.config.final:
            phases.append(FinalPhase(self.s))
        return phases

    def run(self) -> SearchResult:
        """Run the phases to their end (or a Ctrl-C); write the tables and, through ``outputs``, the report."""
        s, c = self.s, self.s.config
        start, interrupted = time.perf_counter(), False
        with Heartbeat(s.study) as beat:
            proposer = Proposer(s.study, s.space, beat, prescreen=c.prescreen, objectives=c.objectives,
                                constraints=s.constraints, data=s.data, device=s.device, seed=c.seed,
                                predict_latency=s.costs.predicted_ms)
            try:
                s.progress(self._started(s.coordinator.settle()))
                self.hooks.started(s)
                for phase in self.phases(proposer, beat):
                    phase.run(start)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                s.costs.close()
        result = self.result(interrupted)
        s.progress(SearchEnded(time.perf_counter() - start, interrupted))
        return result

    def _started(self, settled: list[int]) -> SearchStarted:
        s, c = self.s, self.s.config
        return SearchStarted(s.study_name, s.storage_display, str(s.paths.root), c.budget, str(s.device), s.space.name,
                             c.dataset, s.evaluator.name, settled, count_finished(s.study.get_trials(deepcopy=False)),
                             s.fidelity, s.evaluator.budget_text(), len(s.data.train), len(s.data.val),
                             c.report_every if self.live.enabled else 0, c.report_every_s,
                             tuple((t.size, str(t.copy)) for t in journal_healed(s.storage)))

    def _write_outputs(self) -> tuple[Any, Any, list[Path]]:
        s = self.s
        record_run_facts(s.study, s.data.spec, s.device)
        df, pareto, files = write_study_tables(s.study, s.paths.root)
        if self.outputs is not None:
            files += self.outputs(s.study, s.paths.root)
        return df, pareto, files

    def result(self, interrupted: bool = False) -> SearchResult:
        """The study's tables (and, through ``outputs``, its report), written now."""
        self.hooks.ended()
        df, pareto, files = self._write_outputs()
        s = self.s
        return SearchResult(s.study_name, s.storage_display, s.paths.root, df, pareto, tuple(s.config.objectives),
                            files, interrupted)


def run_search(config: SearchConfig, progress: ProgressCallback | None = None,
               outputs: Outputs | None = None, callbacks: Sequence[Callback] = ()) -> SearchResult:
    """Run (or resume) a search until the study holds ``config.budget`` counted trials.

    Args:
        config: the search.
        progress: called with each :mod:`~nasbox.search.events` event.
        outputs: writes what goes beside the tables at the end (the report, see
            :func:`nasbox.report.write_report`); ``None``: the tables only.
        callbacks: Optuna callbacks called with each trial this worker ran (:mod:`~nasbox.search.tracking`).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return Search(config, progress, outputs, callbacks).run()
