"""Early stopping and zero-cost pre-screening in a study, as plain data and plain text.

``--early-stop`` stops a candidate that is dominated at a rung (a share of its training);
``--prescreen K`` scores K proposals per trained trial with zero-cost proxies and trains
one (see :mod:`nasbox.search`). :func:`screening_info` counts the stops per rung and the
proposals screened out, and, once at least :data:`MIN_CORRELATED` complete trials carry
proxy scores, gives each proxy's Spearman rank correlation with the validation accuracy
those trials reached. :func:`screening_blocks` turns it into paragraphs and tables of plain
text that the page and the Markdown render (and escape) alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pandas as pd

from nasbox.report.collect import ReportData
from nasbox.report.format import proxy_label
from nasbox.report.fronts import trained_points
from nasbox.study.schema import TrialStatus

__all__ = ["MIN_CORRELATED", "Block", "ProxyCorrelation", "RungStops", "ScreeningInfo", "screening_blocks",
           "screening_info", "spearman"]

MIN_CORRELATED = 5  # complete trials with proxy scores needed before a correlation is shown
_LISTED = 20  # trial numbers listed per rung


class RungStops(NamedTuple):
    """The trials that stopped at one iteration (one rung of one training budget)."""

    iteration: int | None  # None: not recorded
    budget: int | None  # their training budget in iterations, when recorded
    numbers: tuple[int, ...]


class ProxyCorrelation(NamedTuple):
    """One proxy against the trained accuracy."""

    proxy: str
    rho: float | None  # Spearman's rank correlation; None where undefined (all scores or accuracies equal)
    n: int  # complete trials with this proxy's score


class ScreeningInfo(NamedTuple):
    """What early stopping and pre-screening did in a study.

    Attributes:
        stops: the stopped trials per (iteration, budget), earliest first.
        scored: trials with proxy scores (every proposal that pre-screening scored).
        screened: proposals screened out (never trained).
        correlated: complete trials with proxy scores and an accuracy.
        correlations: per proxy, in the order the trials store them; empty while
            ``correlated < MIN_CORRELATED``.
    """

    stops: tuple[RungStops, ...]
    scored: int
    screened: int
    correlated: int
    correlations: tuple[ProxyCorrelation, ...]

    @property
    def stopped(self) -> int:
        return sum(len(s.numbers) for s in self.stops)

    @property
    def shown(self) -> bool:
        """Whether the report has a section for it: something stopped, screened or scored."""
        return bool(self.stops or self.screened or self.scored)


class Block(NamedTuple):
    """A paragraph of plain text, with an optional table under it (``key`` names it on the page)."""

    key: str
    text: str
    head: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation: Pearson's of the average ranks (``-inf`` ranks lowest).

    Returns:
        The correlation, or ``None`` with fewer than two pairs or where one side is constant.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must be as long as each other, got {len(x)=} and {len(y)=}")
    rho = pd.Series(x, dtype=float).rank().corr(pd.Series(y, dtype=float).rank())
    return float(rho) if math.isfinite(rho) else None


def _stops(data: ReportData) -> tuple[RungStops, ...]:
    groups: dict[tuple[int | None, int | None], list[int]] = {}
    for t in data.by_status(TrialStatus.STOPPED):
        groups.setdefault((t.stopped_at, t.budget_iterations), []).append(t.number)
    order = sorted(groups, key=lambda k: (k[0] is None, k[0] or 0, k[1] is None, k[1] or 0))
    return tuple(RungStops(it, budget, tuple(groups[(it, budget)])) for it, budget in order)


def screening_info(data: ReportData) -> ScreeningInfo:
    """Stops per rung, screened-out proposals and the proxies' rank correlation with accuracy."""
    scored = [t for t in data.trials if t.proxies]
    pairs = [(t.accuracy, t.proxies) for t in trained_points(data) if t.proxies]
    names = list(dict.fromkeys(name for _, scores in pairs for name in scores))
    correlations = []
    for name in names:
        both = [(scores[name], acc) for acc, scores in pairs if name in scores]
        if len(both) >= MIN_CORRELATED:
            rho = spearman([score for score, _ in both], [acc for _, acc in both])
            correlations.append(ProxyCorrelation(name, rho, len(both)))
    return ScreeningInfo(_stops(data), len(scored), len(data.by_status(TrialStatus.SCREENED)), len(pairs), tuple(correlations))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _stop_rows(info: ScreeningInfo) -> tuple[tuple[str, ...], ...]:
    rows = []
    for s in info.stops:
        share = "-"
        if s.iteration is not None and s.budget:
            share = f"{s.iteration:,} of {s.budget:,} ({100 * s.iteration / s.budget:.0f}%)"
        listed = ", ".join(f"#{n}" for n in s.numbers[:_LISTED]) + (" ..." if len(s.numbers) > _LISTED else "")
        rows.append(("-" if s.iteration is None else f"{s.iteration:,}", share, str(len(s.numbers)), listed))
    return tuple(rows)


def _prescreen_text(info: ScreeningInfo, config: Mapping[str, Any]) -> str:
    k = config.get("prescreen")
    option = f"--prescreen {k}" if isinstance(k, int) and k > 1 else "--prescreen"
    chosen = info.scored - info.screened
    text = (f"Pre-screening ({option}): {_plural(info.scored, 'proposal')} scored with zero-cost proxies on one "
            f"batch, without training; {info.screened} screened out (never trained nor measured, not counted toward "
            "the budget; in the strip under the MACs and parameters plots)")
    if chosen > 0:
        text += f", {chosen} chosen: {info.screened / chosen:.3g} screened out per chosen proposal"
    return text + "."


def _correlation_block(info: ScreeningInfo) -> Block:
    if not info.correlations:
        return Block("proxy-correlation", f"Rank correlation of the proxies with accuracy: shown once at least "
                     f"{MIN_CORRELATED} complete trials carry proxy scores ({info.correlated} so far).")
    rows = tuple((proxy_label(c.proxy), "-" if c.rho is None else f"{c.rho:+.3f}", str(c.n))
                 for c in info.correlations)
    undefined = " ('-': undefined, all values equal)" if any(c.rho is None for c in info.correlations) else ""
    return Block("proxy-correlation", f"Spearman rank correlation of each proxy score (taken before training) with "
                 f"the validation accuracy reached after training, over the {info.correlated} complete trials of "
                 "this study that carry both. Only the proposals the proxies chose were trained, so these are "
                 f"correlations among their picks{undefined}.", ("proxy", "Spearman ρ", "trials"), rows)


def screening_blocks(info: ScreeningInfo, config: Mapping[str, Any]) -> list[Block]:
    """The section's paragraphs and tables, in reading order (empty when there is nothing to show).

    Args:
        info: from :func:`screening_info`.
        config: the study's recorded search configuration (``early_stop_eta``, ``prescreen``).
    """
    blocks = []
    if info.stops:
        eta = config.get("early_stop_eta")
        option = f"--early-stop, reduction factor {eta}" if eta else "--early-stop"
        blocks.append(Block(
            "stops", f"{_plural(info.stopped, 'trial')} stopped early ({option}): dominated at a rung on accuracy "
                     "so far and the costs. They count toward the budget, are drawn at their accuracy at that rung "
                     "and never enter a front or the hypervolume.",
            ("stopped at iteration", "of its training", "trials", "trial numbers"), _stop_rows(info)))
    if info.scored or info.screened:
        blocks.append(Block("prescreen", _prescreen_text(info, config)))
    if info.scored:
        blocks.append(_correlation_block(info))
    return blocks
