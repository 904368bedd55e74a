"""The search: an Optuna study over a space's genotypes, scored on accuracy and costs.

Each trial goes through named steps, each a small module of its own:

1. **propose** (:mod:`~nasbox.search.propose`): ask the study, claim the trial, sample and
   analyse a genotype (with ``--prescreen K``: the most promising of K proposals);
2. **check** (:mod:`~nasbox.search.check`): parameters and MACs against the constraints,
   from the genotype alone -- an infeasible candidate is never built;
3. **measure** (:mod:`~nasbox.search.costs`): build it, time its latency (or predict it),
   count its MACs with fvcore and thop; check the latency constraint;
4. **evaluate** (:mod:`nasbox.evaluate`): the evaluator scores it (brief training by default,
   with early-stopping rungs from :mod:`~nasbox.search.early_stop`);
5. **record** (:mod:`~nasbox.search.record`): its metrics, status and ``tell``; a genotype
   scored before at the same fidelity is a repeat and reuses its scores;
6. **coordinate** (:mod:`~nasbox.search.coordinate`): the budget across every worker of
   the study, settling the trials of dead workers.

A failing candidate (exception, NaN loss, out of memory) becomes a FAIL trial with its
reason, and the search goes on. Progress is reported as typed events
(:mod:`~nasbox.search.events`). The search writes the study's tables at its end; the
report, which sits above the search, is written by the ``outputs`` hook that
:func:`nasbox.search` and the CLI pass (:func:`nasbox.report.write_report`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from filelock import Timeout

from nasbox.data import load_dataset
from nasbox.errors import DiskFullError, NasboxError, ShapeError, StorageError, TrainingError
from nasbox.evaluate import Candidate, EvalContext, Evaluator, make_evaluator
from nasbox.evaluate.classics import latency_cache_path
from nasbox.files import atomic_write
from nasbox.measure.memory import MemoryLedger, training_bytes
from nasbox.measure.slot import DeviceSlot
from nasbox.model.analysis import constant_from
from nasbox.model.build import build_model
from nasbox.search.check import Constraints
from nasbox.search.config import SearchConfig, SearchResult
from nasbox.search.coordinate import Coordinator, Ledger, Next
from nasbox.search.costs import CostMeter
from nasbox.search.early_stop import ParetoEarlyStopper, RungJudge, rung_iterations
from nasbox.search.events import ClassicsMeasured, ProgressCallback, SearchEnded, SearchStarted, TrialEnded, TrialStarted
from nasbox.search.live import LiveReport
from nasbox.search.propose import Proposal, Proposer, init_seed
from nasbox.search.record import REUSED, Recorder, RepeatIndex, confirm_choice
from nasbox.search.session import open_search_study, record_run_facts, search_toml, setup_of
from nasbox.spaces import get_space
from nasbox.study.schema import COUNTED, OBJECTIVES, TRAINED, Attr, StudyAttr, StudyPaths, TrialStatus, count_finished, safe_name
from nasbox.study.storage import Heartbeat, journal_healed, open_storage, storage_url
from nasbox.study.tables import write_study_tables
from nasbox.train.recipe import resolve_device, use_bf16

__all__ = ["Outputs", "Search", "run_search"]

#: ``outputs(study, report_dir) -> files``: what a search writes beside its tables at its end
Outputs = Callable[[optuna.Study, Path], list[Path]]
_log = logging.getLogger(__name__)
_CANDIDATE_ERRORS = (TrainingError, ShapeError, NasboxError, RuntimeError, ValueError, MemoryError)


class Search:
    """One worker's search of one study (see the module docstring for its steps)."""

    def __init__(self, config: SearchConfig, progress: ProgressCallback | None = None,
                 outputs: Outputs | None = None) -> None:
        config.check()
        self.device = resolve_device(config.device)
        self.config = c = config.with_defaults(self.device)
        self.progress = progress or (lambda event: None)
        self.outputs = outputs
        data = load_dataset(c.dataset, data_dir=c.data_dir, download=c.download, val_fraction=c.val_fraction,
                            subset=c.subset, seed=c.seed, **c.dataset_options)
        spec = data.spec
        self.space = get_space(c.space, input_shape=spec.input_shape, num_classes=spec.num_classes,
                               args=c.space_args, toml_file=c.space_config)
        self.data = data.to(self.device)
        self.slot = DeviceSlot(self.device)  # no latency is timed while another process trains on the device
        self.memory = MemoryLedger(self.device)  # candidates of several workers share a GPU's memory
        self.context = EvalContext(data=self.data, device=self.device, epochs=c.epochs, iterations=c.iterations,
                                   batch_size=c.batch_size, lr=c.lr, augment=c.augment, seed=c.seed, space=self.space,
                                   pause=self.slot.pause_point)
        self.evaluator: Evaluator = make_evaluator(c.evaluator, self.context)
        self.fidelity = self.evaluator.fidelity()
        self.study_name = c.study or f"{self.space.name}-{c.dataset}"
        self.paths = StudyPaths(Path(c.reports_dir) / safe_name(self.study_name))
        url = storage_url(c.storage)
        self.storage, self.storage_display = open_storage(url, self.paths.root, c.heartbeat_s,
                                                          c.storage_retry_s)
        setup = setup_of(c, self.space, self.fidelity)
        self.study = open_search_study(self.storage, self.storage_display, self.study_name, c, setup)
        atomic_write(self.paths.search_toml, search_toml(c, setup))  # the options that reproduce the study
        facts = self.evaluator.facts()
        if facts and self.study.user_attrs.get(StudyAttr.EVALUATOR) != {"name": self.evaluator.name, **facts}:
            self.study.set_user_attr(StudyAttr.EVALUATOR, {"name": self.evaluator.name, **facts})
        self.constraints = Constraints(c.max_params, c.max_macs, c.max_latency_ms)
        self.costs = CostMeter(self.device, threads=c.latency_threads, predict=c.latency == "predict", slot=self.slot)
        self.recorder = Recorder(self.study, self.paths, c.objectives, device=str(self.device),
                                 evaluator=self.evaluator.name, fidelity=self.fidelity)
        self.repeats = RepeatIndex()
        self.ledger = Ledger(on_finished=self.repeats.add)
        self.coordinator = Coordinator(self.study, c.budget, c.heartbeat_s, self.ledger)
        self.live = LiveReport(self._write_outputs if outputs is not None else None, every=c.report_every,
                               every_s=c.report_every_s)

    # ---- the loop
    def run(self) -> SearchResult:
        with Heartbeat(self.study) as beat:
            self.proposer = Proposer(self.study, self.space, beat, prescreen=self.config.prescreen,
                                     objectives=self.config.objectives, constraints=self.constraints, data=self.data,
                                     device=self.device, seed=self.config.seed, predict_latency=self.costs.predicted_ms)
            try:
                return self._loop(beat)
            finally:
                self.costs.close()

    def _loop(self, beat: Heartbeat) -> SearchResult:
        c = self.config
        start, done_here, interrupted = time.perf_counter(), 0, False
        self.progress(self._started(self.coordinator.settle()))
        self._classics()
        while True:
            if self.coordinator.near_the_end():
                self.coordinator.read()  # the ledger digests it
                step = self.coordinator.next()
                if step is Next.DONE:
                    break
                if step is Next.WAIT:
                    self.coordinator.wait()
                    continue
            else:
                self.coordinator.check_stale()
            if self.config.prescreen > 1:
                self.live.wait()  # pre-screening may time units for the latency table
            proposal = self.proposer.propose()
            trial = proposal.trial
            self.ledger.fetch(self.study, trial.number)  # the trials asked before it: what changed (repeats too)
            seen = self.ledger.tally(trial.number)
            if self.coordinator.surplus(seen):
                self.recorder.lose(trial, "surplus: the budget was reached by other workers")
                beat.release(trial)
                continue
            index, t0 = seen.finished + 1, time.perf_counter()
            outcome = self._run_one(proposal, index, beat)
            if outcome is None:
                interrupted = True
                break
            done_here += 1
            self.ledger.fetch(self.study, trial.number + 1)  # its own trial, as told
            self.live.trial_done()
            elapsed = time.perf_counter() - start
            status = TrialStatus(outcome.pop("status"))
            left = max(0, c.budget - index + (status not in COUNTED))  # from what this worker saw: no extra read
            scores = (seen.best_accuracy, outcome.get(Attr.ACCURACY) if status in TRAINED else None)
            best = max((a for a in scores if a is not None), default=None)
            self.progress(TrialEnded(trial.number, index, c.budget, status, time.perf_counter() - t0, elapsed,
                                     elapsed / done_here * left, best, outcome))
        if c.confirm and not interrupted:
            interrupted = self._confirm(beat, start)
        result = self.result(interrupted)
        self.progress(SearchEnded(time.perf_counter() - start, interrupted))
        return result

    def _confirm(self, beat: Heartbeat, start: float) -> bool:
        """``--confirm K``: train the K best non-dominated candidates the evaluator scored standalone (brief
        training), each a trial of its own in this study that records the trial it ``confirms``; those
        confirmed before (a resumed search) are not trained again. Returns whether it was interrupted."""
        c = self.config
        todo = confirm_choice(self.study.get_trials(deepcopy=False), self.evaluator.name, c.objectives, c.confirm)
        if not todo:
            return False
        brief = make_evaluator("brief", self.context)
        recorder = Recorder(self.study, self.paths, c.objectives, device=str(self.device), evaluator=brief.name,
                            fidelity=brief.fidelity())
        saved = self.evaluator, self.recorder
        self.evaluator, self.recorder = brief, recorder
        total = c.budget + len(todo)
        try:
            for i in range(len(todo)):
                # read again before each but the first: another process confirming the same study takes its own
                left = todo if i == 0 else confirm_choice(self.study.get_trials(deepcopy=False), saved[0].name,
                                                          c.objectives, c.confirm)
                if not left:
                    break
                estimated = left[0]
                self.study.enqueue_trial(estimated.params, user_attrs={Attr.CONFIRMS: estimated.number})
                proposal = self.proposer.propose_one()
                t0 = time.perf_counter()
                outcome = self._run_one(proposal, c.budget + i + 1, beat)
                if outcome is None:
                    return True
                elapsed = time.perf_counter() - start
                status = TrialStatus(outcome.pop("status"))
                self.progress(TrialEnded(proposal.trial.number, c.budget + i + 1, total, status,
                                         time.perf_counter() - t0, elapsed,
                                         (time.perf_counter() - t0) * (len(todo) - i - 1), None, outcome))
        finally:
            self.evaluator, self.recorder = saved
        return False

    def _started(self, settled: list[int]) -> SearchStarted:
        c = self.config
        return SearchStarted(self.study_name, self.storage_display, str(self.paths.root), c.budget, str(self.device),
                             self.space.name, c.dataset, self.evaluator.name, settled,
                             count_finished(self.study.get_trials(deepcopy=False)), self.fidelity,
                             self.evaluator.budget_text(), len(self.data.train), len(self.data.val),
                             c.report_every if self.live.enabled else 0, c.report_every_s,
                             tuple((t.size, str(t.copy)) for t in journal_healed(self.storage)))

    def _classics(self) -> None:
        """The classic networks' latency on this device at the study's input (cached per machine),
        recorded in the study for its report; once per study."""
        c = self.config
        recorded = self.study.user_attrs.get(StudyAttr.CLASSICS) or {}
        if not c.classics or self.outputs is None or recorded.get("device") == str(self.device):
            return
        t0 = time.perf_counter()
        try:
            found = self.costs.classics(self.space.input_shape, self.space.num_classes)
        except Timeout:  # another worker holds the cache's lock for long: its study records them
            _log.warning("the classic networks' latency cache stayed locked; not measuring them here")
            return
        except Exception as exc:  # a report's extra never stops a search (an unwritable cache, say)
            _log.warning("could not measure the classic networks' latency: %s: %s", type(exc).__name__, exc)
            return
        self.study.set_user_attr(StudyAttr.CLASSICS, {"device": str(self.device), "models": found})
        self.progress(ClassicsMeasured(len(found), time.perf_counter() - t0,
                                       str(latency_cache_path(self.device, c.latency_threads))))

    def _run_one(self, proposal: Proposal, index: int, beat: Heartbeat) -> dict[str, Any] | None:
        """:meth:`_run_to_end`, or ``None`` when interrupted (Ctrl-C): the trial is then recorded
        as lost, "interrupted"."""
        try:
            return self._run_to_end(proposal, index, beat)
        except KeyboardInterrupt:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                self.recorder.lose(proposal.trial, "interrupted")
            return None
        except (StorageError, DiskFullError) as exc:  # the search stops; its trial is lost (if that can be written)
            with contextlib.suppress(Exception):
                self.recorder.lose(proposal.trial, f"interrupted: {exc}"[:300])
            raise

    def _run_to_end(self, proposal: Proposal, index: int, beat: Heartbeat) -> dict[str, Any]:
        """Run one trial to its end: its outcome, a candidate failure (FAIL with its reason),
        or -- when another worker settled it as stale meanwhile -- lost, left as that worker told it."""
        trial = proposal.trial
        try:
            try:
                return self.run_trial(proposal, index)
            except (optuna.exceptions.UpdateFinishedTrialError, StorageError, DiskFullError):
                raise  # not the candidate's failure: the study's storage or disk; the search stops, the study intact
            except _CANDIDATE_ERRORS as exc:
                return self.recorder.fail(trial, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                          [:500])
        except optuna.exceptions.UpdateFinishedTrialError:
            return {"status": TrialStatus.LOST, Attr.LOST: "settled by another worker while it ran (its heartbeat "
                                                           "was late)"}
        finally:
            beat.release(trial)

    # ---- one trial, step by step
    def run_trial(self, proposal: Proposal, index: int) -> dict[str, Any]:
        trial, arch, info = proposal.trial, proposal.arch, proposal.info
        self.recorder.start(trial, arch)
        if proposal.error is not None:
            raise proposal.error
        self.progress(TrialStarted(trial.number, index, arch.encode()))
        metrics: dict[str, Any] = {Attr.PARAMS: info.params, Attr.MACS: info.macs, Attr.FLOPS: info.flops}
        broken = self.constraints.apply(trial, metrics, analytic=True)
        if broken:
            return self._infeasible(trial, metrics, broken)
        repeat = self.repeats.find(arch.arch_id, self.recorder.fidelity_key)
        if repeat is not None:
            metrics.update({k: repeat.user_attrs[k] for k in REUSED if k in repeat.user_attrs})
            self.constraints.apply(trial, metrics, analytic=False)
            return self.recorder.finish(trial, {**metrics, Attr.REPEAT_OF: repeat.number}, TrialStatus.REPEAT)
        seed = init_seed(arch.arch_id, self.config.seed)
        if not self.evaluator.needs_model:
            return self._look_up(trial, Candidate(arch, info, seed), metrics)
        candidate = Candidate(arch, info, seed, build_model(arch, seed=seed))
        self.live.wait()  # no report rendering while the latency is timed
        metrics.update(self.costs.time(candidate))
        counts = self.costs.count_later(candidate)  # on a GPU: traced on the CPU while the candidate trains
        broken = self.constraints.apply(trial, metrics, analytic=False)
        if broken:
            return self._infeasible(trial, {**metrics, **counts.result()}, broken)
        constant = constant_from(arch)
        if constant is not None:  # the same output for every image: chance (on balanced classes), untrained
            metrics.update({Attr.ACCURACY: 1.0 / arch.num_classes, Attr.DISCONNECTED: constant, **counts.result()})
            return self.recorder.finish(trial, metrics, TrialStatus.COMPLETE)
        self.live.start_if_due()  # the report renders while the candidate trains
        need = training_bytes(info, self.config.batch_size, bf16=use_bf16(self.device))
        with self.memory.reserve(need) as waited, self.slot.training():
            evaluation = self.evaluator.evaluate(candidate, self._rungs(trial, metrics))
        if waited > 0.05:
            metrics["memory_wait_seconds"] = waited
        metrics.update({Attr.ACCURACY: evaluation.accuracy, **evaluation.details, **counts.result()})
        if evaluation.stopped_at is not None:
            return self.recorder.finish(trial, {**metrics, Attr.STOPPED_AT: evaluation.stopped_at}, TrialStatus.STOPPED)
        return self.recorder.finish(trial, metrics, TrialStatus.COMPLETE)

    def _look_up(self, trial: optuna.Trial, candidate: Candidate, metrics: dict[str, Any]) -> dict[str, Any]:
        """An evaluator that needs no model (a table): score first; build and time the candidate only when
        its latency is wanted (an objective or a constraint) and the evaluator did not give one."""
        evaluation = self.evaluator.evaluate(candidate, None)
        metrics.update({Attr.ACCURACY: evaluation.accuracy, **evaluation.details})
        wanted = "latency" in self.config.objectives or self.config.max_latency_ms is not None
        if wanted and Attr.LATENCY_MS not in evaluation.details:
            candidate.model = build_model(candidate.arch, seed=candidate.seed)
            self.live.wait()  # no report rendering while the latency is timed
            metrics.update(self.costs.measure(candidate))
        broken = self.constraints.apply(trial, metrics, analytic=False)
        if broken:
            return self._infeasible(trial, metrics, broken)
        self.live.start_if_due()
        return self.recorder.finish(trial, metrics, TrialStatus.COMPLETE)

    def _infeasible(self, trial: optuna.Trial, metrics: dict[str, Any], broken: list[str]) -> dict[str, Any]:
        return self.recorder.finish(trial, {**metrics, Attr.INFEASIBLE: "; ".join(broken), Attr.ACCURACY: 0.0},
                                    TrialStatus.INFEASIBLE)

    def _rungs(self, trial: optuna.Trial, metrics: dict[str, Any]) -> RungJudge | None:
        """Early-stopping rungs (``--early-stop``): stop where the candidate is clearly
        dominated on (accuracy at the rung, costs) by the candidates that reached it before."""
        c = self.config
        total = self.evaluator.total_iterations()
        if not c.early_stop or "accuracy" not in c.objectives or not self.evaluator.supports_rungs or not total:
            return None
        costs = [OBJECTIVES[o].attr for o in c.objectives if o != "accuracy"]
        stopper = ParetoEarlyStopper(reduction_factor=c.early_stop_eta, cost_names=costs)
        return RungJudge(trial, stopper, rung_iterations(total), {n: metrics[n] for n in costs})

    # ---- outputs
    def _write_outputs(self) -> tuple[Any, Any, list[Path]]:
        record_run_facts(self.study, self.data.spec, self.device)
        df, pareto, files = write_study_tables(self.study, self.paths.root)
        if self.outputs is not None:
            files += self.outputs(self.study, self.paths.root)
        return df, pareto, files

    def result(self, interrupted: bool = False) -> SearchResult:
        """The study's tables (and, through ``outputs``, its report), written now."""
        self.live.wait()
        df, pareto, files = self._write_outputs()
        return SearchResult(self.study_name, self.storage_display, self.paths.root, df, pareto,
                            tuple(self.config.objectives), files, interrupted)


def run_search(config: SearchConfig, progress: ProgressCallback | None = None,
               outputs: Outputs | None = None) -> SearchResult:
    """Run (or resume) a search until the study holds ``config.budget`` counted trials.

    Args:
        config: the search.
        progress: called with each :mod:`~nasbox.search.events` event.
        outputs: writes what goes beside the tables at the end (the report, see
            :func:`nasbox.report.write_report`); ``None``: the tables only.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return Search(config, progress, outputs).run()
