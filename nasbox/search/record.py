"""Step 5 of a trial, *record*: what the trial holds, and ``tell``.

A trial records its device, evaluator and fidelity, its genotype (``arch_id``, encoding,
and the genotype's JSON in ``archs/<arch_id>.json``), then its metrics and, last, its
status, just before ``tell`` (so that a trial's status is decidable from what was recorded,
:func:`nasbox.study.schema.trial_status`). A genotype scored before at the same fidelity
is not scored again (:class:`RepeatIndex`): its metrics are reused and the trial is a
repeat.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nasbox.files import atomic_write
from nasbox.model.arch import Architecture
from nasbox.study.pareto import non_dominated_mask
from nasbox.study.schema import OBJECTIVES, Attr, StudyPaths, TrialStatus, trial_status
from nasbox.study.storage import set_attrs

__all__ = ["REUSED", "Recorder", "RepeatIndex", "confirm_choice"]

#: the metrics a repeat takes from the trial it repeats
REUSED = (Attr.ACCURACY, Attr.LATENCY_MS, Attr.LATENCY_IQR_MS, Attr.LATENCY_THREADS, Attr.LATENCY_SOURCE,
          Attr.LATENCY_CUDA_GRAPH,
          Attr.MACS_FVCORE, Attr.MACS_THOP, Attr.TRAIN_LOSS, Attr.TRAIN_SECONDS, Attr.ITERATIONS, Attr.EPOCHS,
          Attr.IMAGES_PER_SECOND, Attr.PRECISION, Attr.DISCONNECTED, Attr.SUPERNET_ESTIMATES, Attr.INHERITED_ACCURACY)


class RepeatIndex:
    """The study's trained genotypes by ``(arch_id, fidelity)``, updated from each read of the study."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], FrozenTrial] = {}

    def update(self, trials: list[FrozenTrial]) -> None:
        for t in trials:
            self.add(t)

    def add(self, t: FrozenTrial) -> None:
        a = t.user_attrs
        if t.state == TrialState.COMPLETE and a.get(Attr.STATUS) == TrialStatus.COMPLETE:
            key = (a.get(Attr.ARCH_ID), a.get(Attr.FIDELITY_KEY))
            if key not in self._first or t.number < self._first[key].number:
                self._first[key] = t

    def find(self, arch_id: str, fidelity_key: str) -> FrozenTrial | None:
        return self._first.get((arch_id, fidelity_key))


def confirm_choice(trials: list[FrozenTrial], evaluator: str, objectives: tuple[str, ...], k: int) -> list[FrozenTrial]:
    """The ``k`` best candidates ``evaluator`` scored that no trial confirms yet (``--confirm``): the
    non-dominated ones first (by accuracy within a front), then the next fronts; one trial per genotype.
    A confirmation that runs (in another process) or ran to a result (or a failure) takes its
    candidate; a lost one (interrupted, its worker died) does not, so a resumed search trains it."""
    confirmed = {t.user_attrs[Attr.CONFIRMS] for t in trials
                 if Attr.CONFIRMS in t.user_attrs and trial_status(t) != TrialStatus.LOST}
    seen: set[Any] = set()
    pool = []
    for t in sorted(trials, key=lambda t: t.number):
        a = t.user_attrs
        if (t.state == TrialState.COMPLETE and a.get(Attr.STATUS) == TrialStatus.COMPLETE
                and a.get(Attr.EVALUATOR) == evaluator and Attr.CONFIRMS not in a and a.get(Attr.ARCH_ID) not in seen):
            seen.add(a.get(Attr.ARCH_ID))
            pool.append(t)
    done = {t.user_attrs.get(Attr.ARCH_ID) for t in pool if t.number in confirmed}
    directions = [OBJECTIVES[o].direction for o in objectives]
    accuracy = OBJECTIVES["accuracy"].attr
    chosen: list[FrozenTrial] = []
    while pool and len(chosen) + len(done) < k:
        mask = non_dominated_mask([list(t.values) for t in pool], directions)
        front = [t for t, keep in zip(pool, mask, strict=True) if keep]
        pool = [t for t, keep in zip(pool, mask, strict=True) if not keep]
        front.sort(key=lambda t: -float(t.user_attrs.get(accuracy, 0.0)))
        chosen += [t for t in front if t.user_attrs.get(Attr.ARCH_ID) not in done]
    return chosen[:max(0, k - len(done))]


class Recorder:
    """Writes a search's trials: attributes, values, states, genotype files."""

    def __init__(self, study: optuna.Study, paths: StudyPaths, objectives: tuple[str, ...], *, device: str,
                 evaluator: str, fidelity: dict[str, Any]) -> None:
        self.study, self.paths, self.objectives = study, paths, objectives
        self.fixed = {Attr.DEVICE: device, Attr.EVALUATOR: evaluator, Attr.FIDELITY: fidelity,
                      Attr.FIDELITY_KEY: json.dumps(fidelity, sort_keys=True)}

    @property
    def fidelity_key(self) -> str:
        return self.fixed[Attr.FIDELITY_KEY]

    def start(self, trial: optuna.Trial, arch: Architecture | None) -> None:
        """What a trial records before it is evaluated (device, evaluator, fidelity, its genotype's id and
        encoding), in one write, and its genotype's JSON file."""
        set_attrs(trial, {**self.fixed, **({} if arch is None else {Attr.ARCH_ID: arch.arch_id,
                                                                      Attr.ENCODING: arch.encode()})})
        if arch is None:
            return
        path = self.paths.arch_json(arch.arch_id)
        if not path.exists():
            atomic_write(path, arch.to_json(indent=2) + "\n")

    def values(self, metrics: dict[str, Any]) -> list[float]:
        return [float(metrics.get(OBJECTIVES[o].attr, float("inf"))) for o in self.objectives]

    def finish(self, trial: optuna.Trial, metrics: dict[str, Any], status: TrialStatus) -> dict[str, Any]:
        """Record ``metrics`` and ``status``, then tell: values for a result, PRUNED for a stopped trial. A database
        writes them in the transaction that ends the trial; a journal appends them, the status last, before it."""
        set_attrs(trial, {**metrics, Attr.STATUS: status}, defer=True)
        values = self.values(metrics)
        if status == TrialStatus.STOPPED:  # stopped early: PRUNED, which every sampler handles, with no values
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, values)
        return {"status": status, "values": values, **metrics}

    def fail(self, trial: optuna.Trial, reason: str) -> dict[str, Any]:
        """A candidate that failed: its reason, then status ``failed`` (a FAIL counts only with it)."""
        set_attrs(trial, {Attr.FAIL_REASON: reason, Attr.STATUS: TrialStatus.FAILED}, defer=True)
        self.study.tell(trial, state=TrialState.FAIL)
        return {"status": TrialStatus.FAILED, Attr.FAIL_REASON: reason}

    def lose(self, trial: optuna.Trial, reason: str) -> None:
        """A trial with no result of its own (interrupted, surplus): FAIL, marked lost."""
        trial.set_user_attr(Attr.LOST, reason)
        self.study.tell(trial, state=TrialState.FAIL)
