"""Step 2 of a trial, *check*: the user's constraints (``--max-params``, ``--max-macs``,
``--max-latency-ms``), through Optuna's ``trial.set_constraint``.

Parameters and MACs are known from the genotype and checked before anything is built;
latency once it is measured (or predicted), before training. A candidate that breaks a
constraint is valid but unwanted: it is recorded as infeasible and never trained.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import optuna

from nasbox.model.analysis import Analysis
from nasbox.study.schema import Attr

__all__ = ["ANALYTIC_COSTS", "Constraints", "Limit"]

#: costs known from the genotype alone
ANALYTIC_COSTS = (Attr.PARAMS, Attr.MACS, Attr.FLOPS)


class Limit(NamedTuple):
    option: str  # the SearchConfig field and constraint name: max_params, ...
    metric: str  # the trial attribute it bounds
    analytic: bool  # known before anything is built


LIMITS = (Limit("max_params", Attr.PARAMS, True), Limit("max_macs", Attr.MACS, True),
          Limit("max_latency_ms", Attr.LATENCY_MS, False))


class Constraints:
    """The limits a search was given (``None``: no limit)."""

    def __init__(self, max_params: int | None = None, max_macs: int | None = None,
                 max_latency_ms: float | None = None) -> None:
        self.values = {"max_params": max_params, "max_macs": max_macs, "max_latency_ms": max_latency_ms}

    def apply(self, trial: optuna.Trial, metrics: dict[str, Any], *, analytic: bool) -> list[str]:
        """Set the trial's constraints (analytic ones, or the measured ones) whose metric is known;
        return the broken ones as text (``macs 1.2e+07 > 5e+06``)."""
        broken = []
        for limit in LIMITS:
            bound = self.values[limit.option]
            if limit.analytic != analytic or bound is None or limit.metric not in metrics:
                continue
            excess = float(metrics[limit.metric]) - float(bound)
            trial.set_constraint(limit.option, excess)
            if excess > 0:
                broken.append(f"{limit.metric} {metrics[limit.metric]:,.6g} > {bound:,.6g}")
        return broken

    def analytic_excess(self, info: Analysis) -> bool:
        """Whether a genotype breaks a parameter or MAC limit (pre-screening puts those last)."""
        known = {Attr.PARAMS: info.params, Attr.MACS: info.macs}
        return any(self.values[lim.option] is not None and known[lim.metric] > self.values[lim.option]
                   for lim in LIMITS if lim.analytic)
