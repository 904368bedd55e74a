"""One trial, as a pipeline: propose -> check -> measure -> evaluate -> record, returning its :class:`Outcome`.

A pipeline owns its evaluator and its recorder (which fidelity the trial records): the search's phases each
own one (:mod:`~nasbox.search.phases`), so confirming a candidate with brief training swaps nothing in place.

1. **propose** (:mod:`~nasbox.search.propose`): the phase asks the study for a trial and its genotype;
2. **check** (:mod:`~nasbox.search.check`): parameters and MACs against the constraints, from the genotype alone
   -- an infeasible candidate is never built; a genotype scored before at the same fidelity is a repeat;
3. **measure** (:mod:`~nasbox.search.costs`): build it, time its latency (or predict it), count its MACs;
4. **evaluate** (:mod:`nasbox.evaluate`): the evaluator scores it (with early-stopping rungs);
5. **record** (:mod:`~nasbox.search.record`): its metrics, status and ``tell``.

A failing candidate (exception, NaN loss, out of memory) becomes a FAIL trial with its reason; a trial another
worker settled meanwhile is lost. Ctrl-C records the running trial as lost ("interrupted") and goes on up, as do
a storage that stays away and a full disk (the trial is then recorded lost if that can still be written):
:class:`~nasbox.search.loop.Search` handles an interruption in one place.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import optuna

from nasbox.errors import CANDIDATE_ERRORS, STUDY_FAULTS
from nasbox.evaluate import Candidate, Evaluator
from nasbox.measure.memory import training_bytes
from nasbox.model.analysis import constant_from
from nasbox.model.build import build_model
from nasbox.search.early_stop import ParetoEarlyStopper, RungJudge, rung_iterations
from nasbox.search.events import TrialStarted
from nasbox.search.hooks import Hook
from nasbox.search.propose import Proposal, init_seed
from nasbox.search.record import REUSED, Recorder
from nasbox.search.services import Services
from nasbox.study.schema import OBJECTIVES, Attr, TrialStatus
from nasbox.study.storage import Heartbeat
from nasbox.train.recipe import use_bf16

__all__ = ["Outcome", "TrialPipeline"]


class Outcome(NamedTuple):
    """How a trial ended: its status and what it recorded (metrics, or the reason it failed or was lost)."""

    status: TrialStatus
    metrics: dict[str, Any]


class TrialPipeline:
    """Runs trials of one evaluator at one fidelity (see the module docstring)."""

    def __init__(self, s: Services, evaluator: Evaluator, beat: Heartbeat, hooks: Hook) -> None:
        self.s, self.evaluator, self.beat, self.hooks = s, evaluator, beat, hooks
        self.recorder = Recorder(s.study, s.paths, s.config.objectives, device=str(s.device),
                                 evaluator=evaluator.name, fidelity=evaluator.fidelity())

    def run(self, proposal: Proposal, index: int) -> Outcome:
        """Run a proposed trial to its end; an interruption is recorded (lost) and raised on."""
        trial = proposal.trial
        try:
            return self._to_end(proposal, index)
        except KeyboardInterrupt:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                self.recorder.lose(trial, "interrupted")
            raise
        except STUDY_FAULTS as exc:  # the search stops; its trial is lost (if that can still be written)
            with contextlib.suppress(Exception):
                self.recorder.lose(trial, f"interrupted: {exc}"[:300])
            raise
        finally:
            self.beat.release(trial)

    def _to_end(self, proposal: Proposal, index: int) -> Outcome:
        try:
            try:
                return self._steps(proposal, index)
            except (optuna.exceptions.UpdateFinishedTrialError, *STUDY_FAULTS):
                raise  # not the candidate's failure
            except CANDIDATE_ERRORS as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
                return self._told(self.recorder.fail(proposal.trial, reason))
        except optuna.exceptions.UpdateFinishedTrialError:
            return Outcome(TrialStatus.LOST, {Attr.LOST: "settled by another worker while it ran (its heartbeat was "
                                                         "late)"})

    @staticmethod
    def _told(recorded: dict[str, Any]) -> Outcome:
        metrics = dict(recorded)
        return Outcome(TrialStatus(metrics.pop("status")), metrics)

    def _finish(self, trial: optuna.Trial, metrics: dict[str, Any], status: TrialStatus) -> Outcome:
        return self._told(self.recorder.finish(trial, metrics, status))

    # ---- the steps
    def _steps(self, proposal: Proposal, index: int) -> Outcome:
        s, trial, arch, info = self.s, proposal.trial, proposal.arch, proposal.info
        self.recorder.start(trial, arch)
        if proposal.error is not None:
            raise proposal.error
        s.progress(TrialStarted(trial.number, index, arch.encode()))
        metrics: dict[str, Any] = {Attr.PARAMS: info.params, Attr.MACS: info.macs, Attr.FLOPS: info.flops}
        broken = s.constraints.apply(trial, metrics, analytic=True)  # check
        if broken:
            return self._infeasible(trial, metrics, broken)
        repeat = s.repeats.find(arch.arch_id, self.recorder.fidelity_key)
        if repeat is not None:
            metrics.update({k: repeat.user_attrs[k] for k in REUSED if k in repeat.user_attrs})
            s.constraints.apply(trial, metrics, analytic=False)
            return self._finish(trial, {**metrics, Attr.REPEAT_OF: repeat.number}, TrialStatus.REPEAT)
        seed = init_seed(arch.arch_id, s.config.seed)
        if not self.evaluator.needs_model:
            return self._look_up(trial, Candidate(arch, info, seed), metrics)
        candidate = Candidate(arch, info, seed, build_model(arch, seed=seed))
        self.hooks.timing()
        metrics.update(s.costs.time(candidate))  # measure
        counts = s.costs.count_later(candidate)  # on a GPU: traced on the CPU while the candidate trains
        broken = s.constraints.apply(trial, metrics, analytic=False)
        if broken:
            return self._infeasible(trial, {**metrics, **counts.result()}, broken)
        constant = constant_from(arch)
        if constant is not None:  # the same output for every image: chance (on balanced classes), untrained
            metrics.update({Attr.ACCURACY: 1.0 / arch.num_classes, Attr.DISCONNECTED: constant, **counts.result()})
            return self._finish(trial, metrics, TrialStatus.COMPLETE)
        self.hooks.training()
        need = training_bytes(info, s.config.batch_size, bf16=use_bf16(s.device, model=candidate.model))
        with s.memory.reserve(need) as waited, s.slot.training():  # evaluate
            evaluation = self.evaluator.evaluate(candidate, self._rungs(trial, metrics))
        if waited > 0.05:
            metrics["memory_wait_seconds"] = waited
        metrics.update({Attr.ACCURACY: evaluation.accuracy, **evaluation.details, **counts.result()})
        if evaluation.stopped_at is not None:
            return self._finish(trial, {**metrics, Attr.STOPPED_AT: evaluation.stopped_at}, TrialStatus.STOPPED)
        return self._finish(trial, metrics, TrialStatus.COMPLETE)  # record

    def _look_up(self, trial: optuna.Trial, candidate: Candidate, metrics: dict[str, Any]) -> Outcome:
        """An evaluator that needs no model (a table): score first; build and time the candidate only when
        its latency is wanted (an objective or a constraint) and the evaluator did not give one."""
        s = self.s
        evaluation = self.evaluator.evaluate(candidate, None)
        metrics.update({Attr.ACCURACY: evaluation.accuracy, **evaluation.details})
        wanted = "latency" in s.config.objectives or s.config.max_latency_ms is not None
        if wanted and Attr.LATENCY_MS not in evaluation.details:
            candidate.model = build_model(candidate.arch, seed=candidate.seed)
            self.hooks.timing()
            metrics.update(s.costs.measure(candidate))
        broken = s.constraints.apply(trial, metrics, analytic=False)
        if broken:
            return self._infeasible(trial, metrics, broken)
        self.hooks.training()
        return self._finish(trial, metrics, TrialStatus.COMPLETE)

    def _infeasible(self, trial: optuna.Trial, metrics: dict[str, Any], broken: list[str]) -> Outcome:
        return self._finish(trial, {**metrics, Attr.INFEASIBLE: "; ".join(broken), Attr.ACCURACY: 0.0},
                            TrialStatus.INFEASIBLE)

    def _rungs(self, trial: optuna.Trial, metrics: dict[str, Any]) -> RungJudge | None:
        """Early-stopping rungs (``--early-stop``): stop where the candidate is clearly
        dominated on (accuracy at the rung, costs) by the candidates that reached it before."""
        c = self.s.config
        total = self.evaluator.total_iterations()
        if not c.early_stop or "accuracy" not in c.objectives or not self.evaluator.supports_rungs or not total:
            return None
        costs = [OBJECTIVES[o].attr for o in c.objectives if o != "accuracy"]
        stopper = ParetoEarlyStopper(reduction_factor=c.early_stop_eta, cost_names=costs)
        return RungJudge(trial, stopper, rung_iterations(total), {n: metrics[n] for n in costs})
