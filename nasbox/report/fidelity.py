"""Estimated against confirmed accuracy: a supernet's (or a table's) scores checked by standalone training.

A search with ``--evaluator supernet:PATH --confirm K`` holds two fidelities in one study: every candidate's
accuracy estimated with inherited weights, and K of them (the best non-dominated) trained standalone, each
confirmation a trial that records the trial it ``confirms``. :func:`fidelity_info` pairs them and gives
Kendall's rank correlation between the two accuracies (how well the estimate ranks candidates), with the
supernet's training curve and cost from what its evaluator recorded; :func:`fidelity_blocks` turns it into
text and tables (:func:`nasbox.report.png.write_fidelity_png` draws it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from nasbox.report.collect import ReportData
from nasbox.report.format import fmt_count
from nasbox.report.screening import Block
from nasbox.study.ranking import kendall_tau

__all__ = ["Confirmation", "FidelityInfo", "fidelity_blocks", "fidelity_info", "kendall_tau"]


class Confirmation(NamedTuple):
    """One estimate and its standalone check."""

    estimated_trial: int
    confirmed_trial: int
    estimated: float
    confirmed: float
    macs: int | None


class FidelityInfo(NamedTuple):
    """The study's estimated-and-confirmed pairs and its estimating evaluator's facts.

    Attributes:
        evaluator: the recorded facts of the search's evaluator (``name``, a supernet's ``history``,
            ``train_seconds``, ``epochs``, ``path``), empty when it recorded none.
        estimated: trials scored by the estimating evaluator (not standalone).
        pairs: the confirmations, by estimated trial.
        tau: Kendall's tau-b between estimated and confirmed accuracy (``None`` below 3 pairs or when undefined).
    """

    evaluator: dict[str, Any]
    estimated: int
    pairs: tuple[Confirmation, ...]
    tau: float | None

    @property
    def shown(self) -> bool:
        return bool(self.evaluator or self.pairs)


def fidelity_info(data: ReportData) -> FidelityInfo:
    by_number = {t.number: t for t in data.trials}
    pairs = []
    for t in data.trials:
        if t.confirms is None or not t.trained:
            continue
        estimate = by_number.get(t.confirms)
        if estimate is not None and estimate.trained:
            pairs.append(Confirmation(estimate.number, t.number, float(estimate.accuracy), float(t.accuracy), t.macs))
    pairs.sort(key=lambda p: p.estimated_trial)
    name = data.evaluator.get("name")
    estimated = sum(1 for t in data.trials if t.trained and t.confirms is None and name and t.evaluator == name)
    tau = kendall_tau([p.estimated for p in pairs], [p.confirmed for p in pairs]) if len(pairs) >= 3 else None
    return FidelityInfo(dict(data.evaluator), estimated, tuple(pairs), tau)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def fidelity_blocks(info: FidelityInfo) -> list[Block]:
    """The section's paragraphs and tables (empty when the study has neither estimates nor confirmations)."""
    blocks = []
    facts = info.evaluator
    if facts.get("name") == "supernet":
        history = facts.get("history") or []
        last = history[-1] if history else {}
        epochs = facts.get("epochs")
        trained = (f"trained {epochs} epoch{'' if epochs == 1 else 's'} in "
                   f"{minutes(float(facts.get('train_seconds') or 0))} "
                   f"({last.get('device', 'device not recorded')})")
        accuracies = ""
        if last.get("val_accuracy") is not None and last.get("val_accuracy_smallest") is None:  # one-shot: paths
            accuracies = (f"; validation accuracy after its last epoch {last['val_accuracy']:.4f} (mean of "
                          f"{last.get('subnets_scored')} random subnets, BatchNorm recalibrated)")
        elif last.get("val_accuracy") is not None:
            accuracies = (f"; validation accuracy after its last epoch {last['val_accuracy']:.4f} (largest subnet), "
                          f"{last['val_accuracy_smallest']:.4f} (smallest), BatchNorm recalibrated")
        shared = ("One-shot choices (every edge holds every op)" if facts.get("kind") == "one-shot"
                  else "Elastic choices")
        count = int(facts.get("supernets") or 1)
        whose = "one supernet's" if count > 1 else "such"
        trust = (f" How well {whose} estimates rank, as nasbox's benchmark measured it: {facts['measured']}."
                 if facts.get("measured") else "")
        source = (f"with weights inherited from the supernet {facts.get('path')}, {trained}{accuracies}" if count == 1
                  else f"as the mean of {count} supernets' estimates with inherited weights ({facts.get('path')}; the "
                       f"first {trained}{accuracies}; {minutes(float(facts.get('train_seconds_all') or 0))} of training "
                       "in all)")
        prior = facts.get("prior")
        flow = prior and prior.get("synflow_median") is not None
        sources = ("parameter count and the synflow score of its network as initialised (--supernet-prior "
                   "params+synflow)" if flow else "parameter count (--supernet-prior params)")
        joined = (f" Each estimate was then joined with the candidate's {sources}, with equal weight in their spreads "
                  f"over random subnets ({prior['text']}); the supernet's own estimate is each trial's "
                  "inherited_accuracy." if prior else "")
        blocks.append(Block("supernet", f"Accuracy estimated {source}. {info.estimated} trials were scored this way, "
                            f"without training.{joined} {shared}: {facts.get('elastic', '-')}.{trust}"))
    if info.pairs:
        tau = "undefined (fewer than 3 pairs, or all equal)" if info.tau is None else f"{info.tau:+.3f}"
        rows = tuple((f"#{p.estimated_trial}", f"#{p.confirmed_trial}", f"{p.estimated:.4f}", f"{p.confirmed:.4f}",
                      f"{p.confirmed - p.estimated:+.4f}", fmt_count(p.macs)) for p in info.pairs)
        blocks.append(Block("confirmed", f"{len(info.pairs)} of the best non-dominated candidates were then trained "
                            f"standalone (brief training, --confirm), each a trial of its own. Kendall's τ between "
                            f"estimated and confirmed accuracy: {tau} (1: the estimate ranks them as training does).",
                            ("estimated trial", "confirmed by", "estimated", "confirmed", "difference", "MACs"), rows))
    elif info.evaluator:
        blocks.append(Block("confirmed", "No estimate was confirmed by standalone training yet (search with "
                                         "--confirm K to train the K best non-dominated candidates)."))
    return blocks
