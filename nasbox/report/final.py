"""The final rung in the report: test accuracy against the costs, the classic networks beside the candidates.

When a study has a final rung (:mod:`nasbox.search.final`), its networks -- candidates of the front and classic
networks, all trained with one recipe and tested once -- are what the report leads with: a table of their test
accuracies and costs, their front (test accuracy against MACs, and against latency where measured), and for each
classic network the cheapest finalised candidate at least as accurate (with its share of the classic's MACs and
latency), or how far the best candidate falls short. Below it, how well each cheaper score ranked the finalised
candidates (:mod:`~nasbox.report.calibration`). Plain data here; :func:`final_blocks` words it for the page and
``report.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from nasbox.report.accuracy import percent_decimals, wilson_interval
from nasbox.report.calibration import Calibration
from nasbox.report.collect import ReportData
from nasbox.report.format import fmt_count, fmt_ms
from nasbox.report.screening import Block
from nasbox.study.pareto import non_dominated_mask

__all__ = ["FinalInfo", "FinalNet", "Versus", "final_blocks", "final_info", "fmt_test"]


class FinalNet(NamedTuple):
    """A network of the final rung."""

    name: str
    kind: str  # "candidate" or "classic"
    trial: int | None
    why: str
    test_accuracy: float
    macs: int
    params: int
    latency_ms: float | None
    epochs: int
    seconds: float | None


class Versus(NamedTuple):
    """A classic network against the finalised candidates: the cheapest at least as accurate, or the best."""

    classic: FinalNet
    match: FinalNet | None  # the candidate with the fewest MACs and a test accuracy at least the classic's
    best: FinalNet | None  # the most accurate candidate (when none matches)

    @property
    def macs_share(self) -> float | None:
        return self.match.macs / self.classic.macs if self.match and self.classic.macs else None

    @property
    def latency_share(self) -> float | None:
        m, c = self.match, self.classic
        return m.latency_ms / c.latency_ms if m and m.latency_ms and c.latency_ms else None

    @property
    def short_by(self) -> float | None:
        return self.classic.test_accuracy - self.best.test_accuracy if self.match is None and self.best else None


class FinalInfo(NamedTuple):
    """The final rung of a study, as the report shows it."""

    nets: tuple[FinalNet, ...]  # most accurate first
    epochs: int
    test_size: int | None
    front: tuple[str, ...]  # names non-dominated in (test accuracy, MACs)
    versus: tuple[Versus, ...]
    calibration: Calibration

    @property
    def candidates(self) -> list[FinalNet]:
        return [n for n in self.nets if n.kind == "candidate"]

    @property
    def classics(self) -> list[FinalNet]:
        return [n for n in self.nets if n.kind == "classic"]


def _net(record: dict[str, Any]) -> FinalNet | None:
    try:
        return FinalNet(str(record["name"]), str(record["kind"]), record.get("trial"), str(record.get("why", "")),
                        float(record["test_accuracy"]), int(record["macs"]), int(record["params"]),
                        float(record["latency_ms"]) if record.get("latency_ms") is not None else None,
                        int(record.get("epochs") or 0), record.get("seconds"))
    except (KeyError, TypeError, ValueError):
        return None


def final_info(data: ReportData) -> FinalInfo | None:
    """The study's final rung, or ``None`` when it has none."""
    nets = sorted((n for n in map(_net, data.final.values()) if n is not None), key=lambda n: -n.test_accuracy)
    if not nets:
        return None
    mask = non_dominated_mask([[n.test_accuracy, n.macs] for n in nets], ["maximize", "minimize"])
    candidates = [n for n in nets if n.kind == "candidate"]
    versus = []
    for classic in (n for n in nets if n.kind == "classic"):
        matches = [c for c in candidates if c.test_accuracy >= classic.test_accuracy]
        match = min(matches, key=lambda c: (c.macs, -c.test_accuracy)) if matches else None
        versus.append(Versus(classic, match, None if match or not candidates else candidates[0]))
    splits = data.run.get("splits") if isinstance(data.run.get("splits"), dict) else {}
    test = splits.get("test") if isinstance(splits.get("test"), int) and splits.get("test") > 0 else None
    return FinalInfo(tuple(nets), max(n.epochs for n in nets), test,
                     tuple(n.name for n, keep in zip(nets, mask, strict=True) if keep), tuple(versus), data.calibration)


def fmt_test(accuracy: float, test_size: int | None) -> str:
    """A test accuracy at the precision its split supports, with its 95 % Wilson interval."""
    if test_size is None:
        return f"{100 * accuracy:.2f}%"
    decimals = percent_decimals(test_size)
    low, high = wilson_interval(accuracy, test_size)
    return f"{100 * accuracy:.{decimals}f}% ({100 * low:.{decimals}f}–{100 * high:.{decimals}f}%)"


def _versus_row(v: Versus, n: int | None) -> tuple[str, ...]:
    c = v.classic
    if v.match is not None:
        shares = [f"{100 * v.macs_share:.3g}% of its MACs" if v.macs_share is not None else None,
                  f"{100 * v.latency_share:.3g}% of its latency" if v.latency_share is not None else None]
        verdict = f"{v.match.name}: {fmt_test(v.match.test_accuracy, n)} at {', '.join(s for s in shares if s)}"
    elif v.best is not None:
        verdict = f"none; the best, {v.best.name}, is {100 * v.short_by:.2f} points short"
    else:
        verdict = "no candidate was finalised"
    return (c.name, fmt_test(c.test_accuracy, n), fmt_count(c.macs), fmt_ms(c.latency_ms), verdict)


def final_blocks(info: FinalInfo) -> list[Block]:
    """The final rung's paragraphs and tables: its networks, the classic networks against the candidates, and
    how each cheaper score ranked the candidates (with a verdict where one did not)."""
    n = info.test_size
    split = f"{n:,} test images" if n else "the test split"
    rows = tuple((net.name + (" *" if net.name in info.front else ""), net.kind, net.why,
                  fmt_test(net.test_accuracy, n), fmt_count(net.macs), fmt_count(net.params), fmt_ms(net.latency_ms))
                 for net in info.nets)
    nc, nz = len(info.candidates), len(info.classics)
    blocks = [Block("final", f"The final rung: {nc} candidate{'s' * (nc != 1)} of the front and {nz} classic "
                             f"network{'s' * (nz != 1)}, each trained fully with one recipe for "
                             f"{info.epochs} epochs on the training split and tested once on {split} (accuracy with "
                             "its 95% Wilson interval). *: on the front of test accuracy against MACs.",
                    ("network", "kind", "why", "test accuracy", "MACs", "params", "latency ms"), rows)]
    if info.versus:
        blocks.append(Block("final-versus", "Each classic network against the finalised candidates: the one with the "
                                            "fewest MACs at least as accurate on the test split, or how far the best "
                                            "falls short.",
                            ("classic", "test accuracy", "MACs", "latency ms", "cheapest candidate at least as accurate"),
                            tuple(_versus_row(v, n) for v in info.versus)))
    rungs = info.calibration.rungs
    if rungs:
        text = ("How well each cheaper score ranked the finalised candidates: Kendall's tau between the score the "
                "search had and the final test accuracy (1: the same order; 0: none).")
        verdicts = info.calibration.verdicts
        if verdicts:
            text += " " + " ".join(v[0].upper() + v[1:] + "." for v in verdicts)
        blocks.append(Block("calibration", text, ("score", "networks", "Kendall's tau"),
                            tuple((r.name, str(r.n), "-" if r.tau is None else f"{r.tau:+.2f}") for r in rungs)))
    return blocks
