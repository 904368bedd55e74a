"""Step 1 of a trial, *propose*: ask the study for a trial, claim it, sample and analyse its genotype.

A :class:`Proposal` carries the trial with its genotype and analysis, computed once. With
``--prescreen K`` the :class:`Proposer` asks for K trials, scores each proposal with the
zero-cost proxies (synflow, NASWOT, jacob_cov) on one batch, without training, and keeps
the first one that no other dominates on (mean proxy rank, and the study's cost
objectives known before training: MACs and params from the genotype, latency from the
device's lookup table); genotypes over a MACs or params limit go last. The others are
told FAIL with status ``screened`` and their scores: they do not count toward the budget
and the samplers ignore them. Every proposal keeps its proxy scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from nasbox.data import eval_batches
from nasbox.errors import CANDIDATE_ERRORS
from nasbox.measure.proxies import DEFAULT_PROXIES, mean_proxy_ranks, score_proxies
from nasbox.model.analysis import Analysis, analyze
from nasbox.model.arch import Architecture
from nasbox.search.check import ANALYTIC_COSTS, Constraints
from nasbox.spaces import SearchSpace
from nasbox.study.pareto import non_dominated_mask
from nasbox.study.schema import OBJECTIVES, Attr, TrialStatus
from nasbox.study.storage import Heartbeat, set_attrs, worker_identity

__all__ = ["Proposal", "Proposer", "init_seed"]


@dataclass
class Proposal:
    """A claimed trial and its genotype; ``error`` is why sampling or the analysis failed
    (the trial then fails as a candidate of its own)."""

    trial: optuna.Trial
    arch: Architecture | None = None
    info: Analysis | None = None
    error: Exception | None = None


def init_seed(arch_id: str, seed: int) -> int:
    """The seed of a genotype's initial weights: the same genotype starts the same way."""
    return (int(arch_id[:8], 16) ^ seed) & 0x7FFFFFFF


def _genotype(p: Proposal) -> dict[str, Any]:
    """What a trial records of its genotype (nothing when sampling failed)."""
    return {} if p.arch is None else {Attr.ARCH_ID: p.arch.arch_id, Attr.ENCODING: p.arch.encode()}


class Proposer:
    """Asks the study for the next trial (and with ``prescreen > 1`` picks among several)."""

    def __init__(self, study: optuna.Study, space: SearchSpace, beat: Heartbeat, *, prescreen: int = 0,
                 objectives: tuple[str, ...] = (), constraints: Constraints | None = None, data: Any = None,
                 device: Any = None, seed: int = 0, predict_latency: Callable[[Architecture], float] | None = None) -> None:
        self.study, self.space, self.beat = study, space, beat
        self.prescreen, self.constraints, self.seed = prescreen, constraints, seed
        self.data, self.device, self.predict_latency = data, device, predict_latency
        # the costs among the objectives known before training: MACs, params, and latency from the predictor
        self.costs = [OBJECTIVES[o].attr for o in objectives if OBJECTIVES[o].attr in (*ANALYTIC_COSTS, Attr.LATENCY_MS)]
        self._batch = None

    def propose(self) -> Proposal:
        if self.prescreen <= 1:
            return self.propose_one()
        return self._screen([self._sample(self._claim(self.study.ask())) for _ in range(self.prescreen)])

    def propose_one(self) -> Proposal:
        """The study's next trial (an enqueued one first) with its genotype, never pre-screened."""
        return self._sample(self._claim(self.study.ask()))

    def _claim(self, trial: optuna.Trial) -> optuna.Trial:
        """Make a new trial this worker's: its heartbeat starts, then it records the worker (a journal at
        once; a database, which has the heartbeat, with the trial's start). Killed in between, it is settled
        by its heartbeat; killed before, by its missing worker."""
        self.beat.hold(trial)
        set_attrs(trial, {Attr.WORKER: worker_identity()}, defer=True)  # a database writes it as the trial starts
        return trial

    def _sample(self, trial: optuna.Trial) -> Proposal:
        try:
            arch = self.space.sample(trial)
        except CANDIDATE_ERRORS as exc:  # a user space's sample may fail
            return Proposal(trial, error=exc)
        try:
            return Proposal(trial, arch, analyze(arch))  # ShapeError for a user space's invalid sample
        except CANDIDATE_ERRORS as exc:
            return Proposal(trial, arch, error=exc)

    def _screen(self, proposals: list[Proposal]) -> Proposal:
        scores, points, usable = [], [], []
        for p in proposals:
            if p.info is None:
                scores.append({n: -math.inf for n in DEFAULT_PROXIES})
                points.append(None)
                continue
            score, costs = self._score(p)
            scores.append(score)
            points.append([costs[m] for m in self.costs])
            if not (self.constraints and self.constraints.analytic_excess(p.info)):
                usable.append(len(points) - 1)
        ranks = mean_proxy_ranks(scores)
        pool = usable or [i for i, p in enumerate(points) if p is not None]
        on_front: set[int] = set()
        if pool:
            mask = non_dominated_mask([[ranks[i], *points[i]] for i in pool], ["maximize", *["minimize"] * len(self.costs)])
            on_front = {i for i, keep in zip(pool, mask, strict=True) if keep}
        chosen = min(on_front, default=0)  # none valid: the first, which then fails as a trial of its own
        for i, p in enumerate(proposals):
            attrs = {Attr.PROXIES: scores[i], Attr.PRESCREEN: {"proposals": len(proposals), "proxy_rank": float(ranks[i]),
                                                               "chosen": i == chosen, "on_front": i in on_front}}
            if i != chosen:  # recorded here as a whole; the chosen one records its genotype when it starts
                set_attrs(p.trial, {**attrs, **_genotype(p), Attr.FAIL_REASON: "screened out by --prescreen: trial "
                                    f"#{proposals[chosen].trial.number} was more promising",
                                    Attr.STATUS: TrialStatus.SCREENED})
                self.study.tell(p.trial, state=TrialState.FAIL)
                self.beat.release(p.trial)
            else:
                set_attrs(p.trial, attrs)
        return proposals[chosen]

    def _score(self, p: Proposal) -> tuple[dict[str, float], dict[str, float]]:
        """Record what the proposal is (genotype, analytic costs, predicted latency); return its
        proxy scores and its costs known before training."""
        costs = {Attr.PARAMS: p.info.params, Attr.MACS: p.info.macs, Attr.FLOPS: p.info.flops}
        attrs = dict(costs)
        if Attr.LATENCY_MS in self.costs and self.predict_latency is not None:
            costs[Attr.LATENCY_MS] = attrs[Attr.LATENCY_PREDICTED_MS] = self.predict_latency(p.arch)
        set_attrs(p.trial, attrs)
        if self._batch is None:
            self._batch = next(eval_batches(self.data.train, self.data.spec, 64, device=self.device))[0]
        return score_proxies(p.arch, self._batch, seed=init_seed(p.arch.arch_id, self.seed)), costs
