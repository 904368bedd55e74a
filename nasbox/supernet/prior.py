"""Priors beside a supernet's estimates (``nasbox search --supernet-prior``): the parameter count, and synflow.

On NAS-Bench-201 a cell's parameter count alone ranks the cells' trained accuracy about as well as a
one-shot supernet's estimates do (bench/RESULTS.md), and the two err differently: the supernet overrates
cells of skip connections and underrates 3x3 convolutions, which is what the parameter count sees. The
synflow score of the freshly initialised network (Tanaka et al., 2020; as a NAS proxy Abdelfattah et al., 2021,
"Zero-Cost Proxies for Lightweight NAS"; :func:`nasbox.measure.proxies.synflow`) ranks them about as well again,
from neither weights nor data but the flow through the cell's paths. Performance predictors that join such
sources tend to rank better than each alone (White et al., 2021, "How Powerful are Performance Predictors in
Neural Architecture Search?"); measured on NAS-Bench-201 (bench/RESULTS.md), the join with the parameter count
ranked every supernet's cells better than the supernet alone, and adding synflow ranked them better again.
A prior joins them with equal weight, each in its own robust units among random subnets of the space::

    z_e = (estimate - median_e) / IQR_e          over ``subnets`` random subnets, scored by the supernet
    z_p = (log params - median_p) / IQR_p        over ``archs`` random genotypes of the space (analytic)
    z_s = (synflow - median_s) / IQR_s           over the same ``archs`` genotypes (``params+synflow`` only)
    estimate' = median_e + IQR_e * mean(z_e, z_p[, z_s])

so the estimate stays in the supernet's accuracy units (a subnet of typical size keeps its estimate's rank;
one a quartile larger or smaller moves by half a quartile of the estimates, a third with synflow). synflow is
``log10`` of the synaptic flow of the genotype's network as :func:`nasbox.model.build.build_model` initialises it
with seed 0 (deterministic: a genotype has one score); a network no flow passes through (no path from input to
output) has none, and its estimate is joined with the parameter count alone. Nothing is fitted to any accuracy:
the weights are fixed, the medians and spreads come from random subnets. The reference subnets are scored once
per supernet, calibration and data, and kept beside the checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from nasbox.errors import NasboxError
from nasbox.measure.proxies import synflow
from nasbox.model.analysis import analyze
from nasbox.model.build import build_model

__all__ = ["ONE_SHOT_PRIOR", "PRIORS", "ParamsPrior", "fit_params_prior", "reference_archs", "synflow_of"]

#: ``--supernet-prior`` values: ``auto`` is :data:`ONE_SHOT_PRIOR` for a cell space's one-shot supernet, where the
#: benchmark measured it (NAS-Bench-201), and ``none`` for elastic supernets, where it was not measured
PRIORS = ("auto", "none", "params", "params+synflow")
ONE_SHOT_PRIOR = "params+synflow"
REFERENCE_SUBNETS = 64  # random subnets scored by the supernet for the estimates' median and spread
REFERENCE_ARCHS = 512  # random genotypes counted (analytically) for the parameter counts' median and spread


def _median_iqr(values: Sequence[float]) -> tuple[float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return median, q3 - q1


def synflow_of(arch: Any, input_shape: Sequence[int]) -> float | None:
    """synflow (``log10``) of ``arch``'s network initialised with seed 0, on the CPU; ``None`` where no flow passes
    through it (or it cannot be scored): such a network computes the same output for every input."""
    try:
        value = synflow(build_model(arch, seed=0), tuple(int(v) for v in input_shape))
    except (RuntimeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class ParamsPrior(NamedTuple):
    """The medians and interquartile ranges of the join (see the module docstring); the synflow fields are ``None``
    for the parameter count's prior alone (``params``)."""

    estimate_median: float
    estimate_iqr: float
    log_params_median: float
    log_params_iqr: float
    subnets: int  # how many reference subnets the estimates' figures come from
    synflow_median: float | None = None
    synflow_iqr: float | None = None

    @classmethod
    def of(cls, estimates: Sequence[float], params: Sequence[int],
           synflows: Sequence[float | None] | None = None) -> ParamsPrior:
        """The prior of reference subnets' estimates and reference genotypes' parameter counts (and synflow scores,
        those without one left out)."""
        e_median, e_iqr = _median_iqr(estimates)
        p_median, p_iqr = _median_iqr([math.log(p) for p in params])
        s_median = s_iqr = None
        if synflows is not None:
            scored = [s for s in synflows if s is not None]
            if len(scored) < 4:
                raise ValueError(f"only {len(scored)} of {len(synflows)} random genotypes have a synflow score")
            s_median, s_iqr = _median_iqr(scored)
        return cls(e_median, e_iqr, p_median, p_iqr, len(estimates), s_median, s_iqr)

    @property
    def uses_synflow(self) -> bool:
        return self.synflow_median is not None

    @property
    def kind(self) -> str:
        """Its ``--supernet-prior`` name."""
        return "params+synflow" if self.uses_synflow else "params"

    @classmethod
    def from_json(cls, text: str) -> ParamsPrior:
        """The prior :meth:`to_json` wrote.

        Raises:
            ValueError: not such a prior (a torn or foreign file).
        """
        values = json.loads(text)
        base = set(cls._fields) - {"synflow_median", "synflow_iqr"}
        if not isinstance(values, dict) or set(values) not in (base, set(cls._fields)):
            raise ValueError("not a prior")
        numbers = [values[k] for k in cls._fields if k in values]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
            raise ValueError("not a prior")
        spreads = [values[k] for k in ("estimate_iqr", "log_params_iqr", "synflow_iqr") if k in values]
        if type(values["subnets"]) is not int or values["subnets"] < 1 or min(spreads) < 0:  # a count, spreads >= 0
            raise ValueError("not a prior")
        return cls(*numbers)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self._asdict().items() if v is not None}) + "\n"

    def apply(self, estimate: float, params: int, synflow: float | None = None) -> float:
        """The estimate joined with the prior (``synflow``: the candidate's :func:`synflow_of`, for a prior that uses
        it; ``None``, no flow passes, joins it with the parameter count alone); the estimate itself where the
        estimates' or the parameter counts' spread is zero (a supernet whose subnets all score alike, a space of one
        size): there is nothing to weigh."""
        if self.estimate_iqr <= 0 or self.log_params_iqr <= 0:
            return estimate
        z = [(estimate - self.estimate_median) / self.estimate_iqr,
             (math.log(params) - self.log_params_median) / self.log_params_iqr]
        if self.uses_synflow and synflow is not None and self.synflow_iqr:
            z.append((synflow - self.synflow_median) / self.synflow_iqr)
        return self.estimate_median + self.estimate_iqr * statistics.fmean(z)

    def text(self) -> str:
        flow = (f", median synflow 10^{self.synflow_median:.1f} (IQR x10^{self.synflow_iqr:.1f})"
                if self.uses_synflow else "")
        return (f"median estimate {self.estimate_median:.3f} (IQR {self.estimate_iqr:.3f}, {self.subnets} random "
                f"subnets), median parameters {math.exp(self.log_params_median):,.0f} "
                f"(IQR x{math.exp(self.log_params_iqr):.2f}){flow}")


def reference_archs(space: Any, n: int, seed: int = 0) -> list[Any]:
    """``n`` uniformly random genotypes of ``space`` (seeded)."""
    rng = random.Random(seed)
    return [space.sample_random(rng)[1] for _ in range(n)]


def fit_params_prior(space: Any, score: Callable[[Any], float], *, subnets: int = REFERENCE_SUBNETS,
                     archs: int = REFERENCE_ARCHS, seed: int = 0,
                     flow: Callable[[Any], float | None] | None = None) -> ParamsPrior:
    """Score ``subnets`` random subnets with ``score`` (the supernet's estimate; one that fails is left out) and
    count the parameters of ``archs`` random genotypes (the first ``subnets`` of them are the scored ones); with
    ``flow`` (:func:`synflow_of`, say), the synflow scores of those ``archs`` genotypes too.

    Raises:
        ValueError: fewer than four reference subnets could be scored (or have a synflow score).
    """
    genotypes = reference_archs(space, max(subnets, archs), seed)
    estimates, failures = [], []
    for arch in genotypes[:subnets]:
        try:
            estimates.append(score(arch))
        except (NasboxError, RuntimeError, ValueError) as e:  # a failed trial in a search (SubnetMismatch, ...)
            failures.append(e)
    if len(estimates) < 4:
        first = f" (the first: {str(failures[0]).splitlines()[0][:200]})" if failures else ""
        raise ValueError(f"only {len(estimates)} of {subnets} random subnets could be scored{first}; no prior")
    return ParamsPrior.of(estimates, [analyze(a).params for a in genotypes],
                          None if flow is None else [flow(a) for a in genotypes])
