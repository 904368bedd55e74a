"""A parameter-count prior beside a supernet's estimates (``nasbox search --supernet-prior``).

On NAS-Bench-201 a cell's parameter count alone ranks the cells' trained accuracy about as well as a
one-shot supernet's estimates do (bench/RESULTS.md), and the two err differently: the supernet overrates
cells of skip connections and underrates 3x3 convolutions, which is what the parameter count sees. Performance
predictors that join such sources tend to rank better than each alone (White et al., 2021, "How Powerful are
Performance Predictors in Neural Architecture Search?"); measured on NAS-Bench-201 (bench/RESULTS.md), the join
ranked every supernet's cells better than the supernet alone, and the fair supernets' of 10 epochs or more about
as well as or better than the parameter count alone, but not the best cells, which the parameter count alone
ranked better. The prior joins them with equal weight, each in its own robust units among random subnets of the
space::

    z_e = (estimate - median_e) / IQR_e          over ``subnets`` random subnets, scored by the supernet
    z_p = (log params - median_p) / IQR_p        over ``archs`` random genotypes of the space (analytic)
    estimate' = median_e + IQR_e * (z_e + z_p) / 2

so the estimate stays in the supernet's accuracy units (a subnet of typical size keeps its estimate's rank;
one a quartile larger or smaller moves by half a quartile of the estimates). Nothing is fitted to any
accuracy: the weights are fixed, the medians and spreads come from random subnets. The reference subnets are
scored once per supernet, calibration and data, and kept beside the checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from nasbox.errors import NasboxError
from nasbox.model.analysis import analyze

__all__ = ["PRIORS", "ParamsPrior", "fit_params_prior", "reference_archs"]

#: ``--supernet-prior`` values: ``auto`` is ``params`` for a cell space's one-shot supernet, where the benchmark
#: measured it (NAS-Bench-201), and ``none`` for elastic supernets, where it was not measured
PRIORS = ("auto", "none", "params")
REFERENCE_SUBNETS = 64  # random subnets scored by the supernet for the estimates' median and spread
REFERENCE_ARCHS = 512  # random genotypes counted (analytically) for the parameter counts' median and spread


def _median_iqr(values: Sequence[float]) -> tuple[float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return median, q3 - q1


class ParamsPrior(NamedTuple):
    """The medians and interquartile ranges of the join (see the module docstring)."""

    estimate_median: float
    estimate_iqr: float
    log_params_median: float
    log_params_iqr: float
    subnets: int  # how many reference subnets the estimates' figures come from

    @classmethod
    def of(cls, estimates: Sequence[float], params: Sequence[int]) -> ParamsPrior:
        """The prior of reference subnets' estimates and reference genotypes' parameter counts."""
        e_median, e_iqr = _median_iqr(estimates)
        p_median, p_iqr = _median_iqr([math.log(p) for p in params])
        return cls(e_median, e_iqr, p_median, p_iqr, len(estimates))

    @classmethod
    def from_json(cls, text: str) -> ParamsPrior:
        """The prior :meth:`to_json` wrote.

        Raises:
            ValueError: not such a prior (a torn or foreign file).
        """
        values = json.loads(text)
        if not isinstance(values, dict) or set(values) != set(cls._fields):
            raise ValueError("not a prior")
        numbers = [values[k] for k in cls._fields]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
            raise ValueError("not a prior")
        return cls(*numbers)

    def to_json(self) -> str:
        return json.dumps(self._asdict()) + "\n"

    def apply(self, estimate: float, params: int) -> float:
        """The estimate joined with the parameter count's prior; the estimate itself where either spread is
        zero (a supernet whose subnets all score alike, a space of one size): there is nothing to weigh."""
        if self.estimate_iqr <= 0 or self.log_params_iqr <= 0:
            return estimate
        z_e = (estimate - self.estimate_median) / self.estimate_iqr
        z_p = (math.log(params) - self.log_params_median) / self.log_params_iqr
        return self.estimate_median + self.estimate_iqr * (z_e + z_p) / 2

    def text(self) -> str:
        return (f"median estimate {self.estimate_median:.3f} (IQR {self.estimate_iqr:.3f}, {self.subnets} random "
                f"subnets), median parameters {math.exp(self.log_params_median):,.0f} "
                f"(IQR x{math.exp(self.log_params_iqr):.2f})")


def reference_archs(space: Any, n: int, seed: int = 0) -> list[Any]:
    """``n`` uniformly random genotypes of ``space`` (seeded)."""
    rng = random.Random(seed)
    return [space.sample_random(rng)[1] for _ in range(n)]


def fit_params_prior(space: Any, score: Callable[[Any], float], *, subnets: int = REFERENCE_SUBNETS,
                     archs: int = REFERENCE_ARCHS, seed: int = 0) -> ParamsPrior:
    """Score ``subnets`` random subnets with ``score`` (the supernet's estimate; one that fails is left out) and
    count the parameters of ``archs`` random genotypes (the first ``subnets`` of them are the scored ones).

    Raises:
        ValueError: fewer than four reference subnets could be scored.
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
    return ParamsPrior.of(estimates, [analyze(a).params for a in genotypes])
