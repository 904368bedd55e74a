"""How well each of a search's cheap scores predicted the truth: their ranking of the final rung's networks.

The final rung (:mod:`nasbox.search.final`) trains a study's chosen candidates fully and tests each once. Every
score the search had for those candidates is an estimate of that test accuracy: the evaluator's (brief training,
a supernet's inherited weights, a table), a confirmation's standalone training (``--confirm``), each zero-cost
proxy (``--prescreen``). For each such *rung*, :func:`calibration` gives Kendall's tau-b between its scores and
the final test accuracies over the networks that have both, and the pairs for a scatter plot. A rung that did
not rank them (tau below :data:`TRUST_TAU` over at least :data:`TRUST_N` networks) gets a one-line verdict: its
order could not be trusted on this data. Plain data only; the page and the PNG draw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nasbox.study.ranking import kendall_tau
from nasbox.study.schema import FINAL_TRIAL, Attr

__all__ = ["TRUST_N", "TRUST_TAU", "Calibration", "Rung", "calibration", "final_candidates"]

#: a rung whose tau is below this over at least ``TRUST_N`` networks is reported as not ranking
TRUST_TAU, TRUST_N = 0.3, 5
_JOINED_NAME = "supernet joined with its prior (--supernet-prior)"
_EVALUATOR_NAMES = {"brief": "brief training", "supernet": "supernet (inherited weights)", "table": "table lookup"}


@dataclass(frozen=True)
class Rung:
    """One cheap score against the final test accuracy."""

    name: str
    pairs: tuple[tuple[int, float, float], ...]  # (trial, the rung's score, final test accuracy)
    tau: float | None

    @property
    def n(self) -> int:
        return len(self.pairs)

    @property
    def verdict(self) -> str | None:
        """One line when the rung did not rank the networks (tau below 0.3 over at least 5), else ``None``."""
        if self.tau is None or self.n < TRUST_N or self.tau >= TRUST_TAU:
            return None
        return (f"{self.name} did not rank the finalised networks on this data (Kendall's tau {self.tau:+.2f} over "
                f"{self.n}): do not trust its order here; train longer or finalise more candidates")


@dataclass(frozen=True)
class Calibration:
    """Every rung that scored the finalised candidates."""

    rungs: tuple[Rung, ...] = field(default_factory=tuple)

    @property
    def verdicts(self) -> list[str]:
        return [v for v in (r.verdict for r in self.rungs) if v]


def final_candidates(user_attrs: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The final rung's records of a study's candidates, by trial number (those with a test accuracy)."""
    out = {}
    for key, record in user_attrs.items():
        if key.startswith(FINAL_TRIAL) and isinstance(record, dict) and record.get("test_accuracy") is not None:
            out[int(record["trial"])] = record
    return out


def _rung(name: str, scores: Mapping[int, float], final: Mapping[int, dict[str, Any]]) -> Rung | None:
    pairs = tuple((n, float(scores[n]), float(final[n]["test_accuracy"])) for n in sorted(final) if n in scores)
    if len(pairs) < 2:
        return None
    return Rung(name, pairs, kendall_tau([p[1] for p in pairs], [p[2] for p in pairs]))


def calibration(trials: list[Any], user_attrs: Mapping[str, Any]) -> Calibration:
    """The rungs that scored a study's finalised candidates (``trials``: the study's frozen trials)."""
    final = final_candidates(user_attrs)
    if not final:
        return Calibration()
    by_rung: dict[str, dict[int, float]] = {}
    for t in trials:
        a = t.user_attrs
        accuracy = a.get(Attr.ACCURACY)
        if not isinstance(accuracy, (int, float)):
            continue
        if Attr.CONFIRMS in a:  # a standalone confirmation of another trial's estimate
            by_rung.setdefault("confirmation (standalone brief training)", {})[int(a[Attr.CONFIRMS])] = float(accuracy)
        elif t.number in final:
            evaluator = str(a.get(Attr.EVALUATOR) or "brief")
            inherited = a.get(Attr.INHERITED_ACCURACY)
            if isinstance(inherited, (int, float)):  # the accuracy joined a supernet's with a prior: both are rungs
                by_rung.setdefault(_JOINED_NAME, {})[t.number] = float(accuracy)
                accuracy = inherited
            by_rung.setdefault(_EVALUATOR_NAMES.get(evaluator, evaluator), {})[t.number] = float(accuracy)
        proxies = a.get(Attr.PROXIES)
        if t.number in final and isinstance(proxies, dict):
            for proxy, score in proxies.items():
                if isinstance(score, (int, float)) and score == score and abs(score) != float("inf"):
                    by_rung.setdefault(f"zero-cost proxy {proxy}", {})[t.number] = float(score)
    rungs = [r for r in (_rung(name, scores, final) for name, scores in by_rung.items()) if r is not None]
    return Calibration(tuple(rungs))
